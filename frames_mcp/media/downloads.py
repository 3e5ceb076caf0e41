"""Downloading images over HTTP: streamed, size-capped, recognised by their first bytes. No MCP types here.

Two kinds of URL come through here. Artifact and preview URLs come from useapi (the configured upstream)
and are fetched as given. URLs a caller supplies (upload_image) go through a `Guard` (guard.py), which pins
each hop to an address it checked. Redirects are followed by hand, each hop checked again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx2

from frames_mcp.media.guard import FetchError, Guard

# The image types Frames and useapi deal in, with the file extension each gets.
IMAGE_TYPES: dict[str, str] = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
# Content types a CDN uses when it does not know better; the bytes decide then.
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEAD = 12  # enough bytes to recognise every type in IMAGE_TYPES

__all__ = ["IMAGE_TYPES", "FetchError", "Fetched", "fetch_image", "media_type", "sniff_image"]

Sink = Callable[[bytes], object]


def sniff_image(head: bytes) -> str | None:
    """The image type the first bytes announce (PNG, JPEG, GIF, WebP), whatever the name or header says."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Fetched:
    mime: str  # as the bytes say
    size: int
    data: bytes  # empty when a sink took the bytes


def _checked_url(url: str | httpx2.URL) -> httpx2.URL:
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError):
        raise FetchError("That is not a valid URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise FetchError("Only http and https URLs can be fetched.")
    return parsed


async def fetch_image(
    http: httpx2.AsyncClient,
    url: str,
    *,
    max_bytes: int,
    sink: Sink | None = None,
    guard: Guard | None = None,
    max_redirects: int = 3,
) -> Fetched:
    """GET an image, streamed: refused as soon as it is not an image or grows past `max_bytes`.

    With a `sink`, the bytes go there as they arrive and `Fetched.data` stays empty; otherwise they are
    collected and returned. Raises FetchError with a sentence fit for a note.
    """
    target = _checked_url(url)
    for _ in range(max_redirects + 1):
        send_url, headers, extensions = (target, {}, {}) if guard is None else await guard.pin(target)
        request = http.build_request("GET", send_url, headers=headers, extensions=extensions)
        try:
            response = await http.send(request, stream=True, follow_redirects=False)
        except httpx2.HTTPError as e:
            raise FetchError(f"The download failed ({type(e).__name__}).") from None
        try:
            if response.status_code in _REDIRECTS and "location" in response.headers:
                target = _checked_url(target.join(response.headers["location"]))
                continue
            return await _read(response, max_bytes, sink)
        except httpx2.HTTPError as e:
            raise FetchError(f"The download failed ({type(e).__name__}).") from None
        finally:
            await response.aclose()
    raise FetchError(f"Too many redirects (more than {max_redirects}).")


async def _read(response: httpx2.Response, max_bytes: int, sink: Sink | None) -> Fetched:
    if response.status_code != 200:
        raise FetchError(f"The server answered HTTP {response.status_code}.")
    declared = media_type(response.headers.get("content-type"))
    if declared not in IMAGE_TYPES and declared not in GENERIC_TYPES:
        raise FetchError(f"Not an image: the server sent {declared[:60]}.")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"Too large: {int(length)} bytes, over the {max_bytes}-byte cap.")
    chunks: list[bytes] = []
    head, size, mime = b"", 0, None
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"Too large: more than the {max_bytes}-byte cap.")
        if mime is None:
            head += chunk[: _HEAD - len(head)]
            if len(head) < _HEAD:
                chunks.append(chunk)
                continue
            mime = _recognised(head)
            chunk = b"".join([*chunks, chunk])
            chunks = []
        if sink is not None:
            sink(chunk)
        else:
            chunks.append(chunk)
    if mime is None:  # a body shorter than the sniffing window
        mime = _recognised(head)
        if sink is not None:
            sink(b"".join(chunks))
            chunks = []
    return Fetched(mime=mime, size=size, data=b"".join(chunks))


def _recognised(head: bytes) -> str:
    mime = sniff_image(head)
    if mime is None:
        raise FetchError("Not an image: the bytes are not PNG, JPEG, WebP or GIF.")
    return mime
