"""Where upload_image gets its bytes: a local image file, an http(s) URL or base64 data. No MCP types here.

Whatever the source, the bytes must be a PNG, JPEG, WebP or GIF image, recognised from the bytes
themselves (never from a file name or a declared type) and confirmed by Pillow, within a size cap. A
local file is checked to be a regular file and its first bytes to be an image before anything more is
read. URLs go through the fetch guard (no loopback, private or link-local hosts unless allowed).
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import anyio
import httpx2
from PIL import Image

from frames_mcp.media.downloads import fetch_image, sniff_image
from frames_mcp.media.guard import Guard
from frames_mcp.useapi.errors import FramesError

MAX_PIXELS = 64_000_000  # refuse to decode anything bigger (decompression bombs); below Pillow's warning
_PILLOW_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)
_NAME_CHARS = re.compile(r"[^A-Za-z0-9 ._-]+")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
HINT = "Give a PNG, JPEG, WebP or GIF image."


class SourceError(FramesError):
    hint = HINT


@dataclass(frozen=True)
class ImageBytes:
    data: bytes
    mime: str
    width: int
    height: int
    name: str  # a default asset name derived from the source


def asset_name(candidate: str | None, fallback: str = "frames-mcp-upload") -> str:
    """A tidy asset name: letters, digits, space, dot, dash, underscore; at most 100 characters."""
    cleaned = _NAME_CHARS.sub("-", candidate or "").strip(" .-")[:100]
    return cleaned or fallback


def verify_image(data: bytes, name: str) -> ImageBytes:
    """The image's type and size, if `data` is one of the accepted image types through and through."""
    mime = sniff_image(data[:12])
    if mime is None:
        raise SourceError("That is not an image: the bytes are not PNG, JPEG, WebP or GIF.")
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height) = image.format, image.size
            if width * height > MAX_PIXELS:
                raise SourceError(f"The image is too large to accept ({width}x{height} pixels).")
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise SourceError("The image is damaged or truncated: Pillow cannot read it.") from None
    if _PILLOW_FORMATS.get(fmt or "") != mime:
        raise SourceError(f"The image's bytes and its format disagree ({fmt}).")
    return ImageBytes(data=data, mime=mime, width=width, height=height, name=name)


def _too_large(size: int | str, max_bytes: int) -> SourceError:
    return SourceError(f"The image is too large: {size} bytes, over the {max_bytes}-byte cap.", hint="")


def _read_file(path: Path, max_bytes: int) -> bytes:
    st = os.stat(path)  # a symlink to an image is fine: what matters is what it points to
    if not stat.S_ISREG(st.st_mode):
        raise SourceError("That path is not a regular file.")
    if st.st_size > max_bytes:
        raise _too_large(st.st_size, max_bytes)
    fd = os.open(path, _OPEN_FLAGS)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the stat
            raise SourceError("That path is not a regular file.")
        head = f.read(12)
        if sniff_image(head) is None:  # nothing more is read from a file that is not an image
            raise SourceError("That file is not an image: its bytes are not PNG, JPEG, WebP or GIF.")
        rest = f.read(max_bytes + 1 - len(head))
    if len(head) + len(rest) > max_bytes:
        raise _too_large(f"more than {max_bytes}", max_bytes)
    return head + rest


def _load(text: str, max_bytes: int) -> tuple[bytes, str]:
    if "\0" in text:
        raise SourceError("The path contains a NUL byte.", hint="")
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # ~name of a user this machine does not have
        raise SourceError(f"{text!r} names a home directory this machine does not have.", hint="") from None
    if not path.is_absolute():
        raise SourceError(
            f"Give an absolute path, not {text!r}: the server does not run in your working directory.", hint=""
        )
    try:
        return _read_file(path, max_bytes), path.stem
    except FileNotFoundError:
        raise SourceError(f"No such file: {text}", hint="") from None
    except PermissionError:
        raise SourceError(f"The server may not read {text}.", hint="") from None
    except OSError as e:
        raise SourceError(f"Could not read {text}: {e.strerror or e}.", hint="") from None


async def from_path(text: str, max_bytes: int) -> ImageBytes:
    """A local image file, by absolute path (the server's working directory is nobody's business)."""
    data, stem = await anyio.to_thread.run_sync(_load, text, max_bytes)
    return verify_image(data, asset_name(stem))


async def from_url(http: httpx2.AsyncClient, url: str, max_bytes: int, guard: Guard) -> ImageBytes:
    """An image at an http(s) URL, fetched through the guard."""
    fetched = await fetch_image(http, url, max_bytes=max_bytes, guard=guard)
    stem = PurePosixPath(httpx2.URL(url).path).stem
    return verify_image(fetched.data, asset_name(stem))


def from_base64(text: str, max_bytes: int) -> ImageBytes:
    """Base64 image bytes, bare or as a data: URL (data:image/png;base64,...)."""
    payload = text.strip()
    match = _DATA_URL.match(payload)
    if match is not None:
        if not match.group("b64"):
            raise SourceError("Only base64 data: URLs are accepted (data:image/png;base64,...).", hint="")
        payload = payload[match.end() :]
    payload = re.sub(r"\s+", "", payload)
    if len(payload) > (max_bytes + 2) // 3 * 4 + 4:
        raise _too_large(f"about {len(payload) * 3 // 4}", max_bytes)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SourceError("That is not valid base64 data.", hint="Send the image's bytes base64-encoded.") from None
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return verify_image(data, asset_name(None))


async def load(
    http: httpx2.AsyncClient,
    *,
    path: str | None,
    url: str | None,
    data: str | None,
    max_bytes: int,
    guard: Guard,
) -> ImageBytes:
    """The image from exactly one of the three sources."""
    given = [name for name, value in (("path", path), ("url", url), ("data", data)) if value]
    if len(given) != 1:
        raise SourceError(
            "Give exactly one of path (a local file), url (http or https) or data (base64)"
            + (f"; got {' and '.join(given)}." if given else "."),
            hint="",
        )
    if path:
        return await from_path(path, max_bytes)
    if url:
        return await from_url(http, url, max_bytes, guard)
    assert data is not None
    return from_base64(data, max_bytes)
