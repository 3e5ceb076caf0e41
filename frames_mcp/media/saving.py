"""Saving a task's images into the output directory. No MCP types here.

Nothing from a call or from upstream chooses a path. A file name is built only from the task's date,
the uuid at the end of its taskId (or a hash of a taskId of another form), the image number and an
extension from a fixed table, so it is always one plain component such as
`frames-20260728-0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10-1.png`: the same image always gets the same name.
Downloads are streamed into a temporary file created with O_EXCL|O_NOFOLLOW in the directory, capped
in size, checked to be an image from their first bytes, then renamed into place (os.replace swaps a
planted symlink for the file instead of following it). A file already saved is not fetched again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from frames_mcp.media.downloads import IMAGE_TYPES, FetchError, fetch_image, sniff_image
from frames_mcp.media.guard import Guard
from frames_mcp.media.pictures import Picture
from frames_mcp.useapi.ids import UUID_PATTERN

MAX_FILES = 16  # Frames makes 1 or 4 images; a task claiming more gets only these saved
PARALLEL = 4
_UUID_TAIL = re.compile(f"({UUID_PATTERN})$")
SAFE_NAME = re.compile(r"frames-\d{8}-[0-9a-z-]{1,64}-\d{1,3}\.(png|jpg|webp|gif)")
_MIME_BY_EXT = {ext: mime for mime, ext in IMAGE_TYPES.items()}
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Saved:
    index: int  # position of the image in the task, from 0
    path: Path
    mime: str
    bytes: int


def _date(created_at: str | None) -> str:
    """YYYYMMDD of the task's creation (UTC), or of today when the task does not say. No date upstream sends
    stops a delivery: one at the edge of the calendar (0001-01-01T00:00:00+01:00) keeps its own date."""
    try:
        when = dt.datetime.fromisoformat(created_at or "")
    except ValueError:
        when = dt.datetime.now(dt.UTC)
    if when.tzinfo is not None:
        with contextlib.suppress(OverflowError):
            when = when.astimezone(dt.UTC)
    return f"{when.year:04d}{when.month:02d}{when.day:02d}"


def file_stem(task_id: str, created_at: str | None, index: int) -> str:
    """The name of an image without its extension: date, task uuid, image number (from 1)."""
    match = _UUID_TAIL.search(task_id)
    ident = match.group(1).lower() if match else "task-" + hashlib.sha256(task_id.encode()).hexdigest()[:16]
    return f"frames-{_date(created_at)}-{ident}-{index + 1}"


def _inside(directory: Path, name: str) -> Path:
    """directory/name, for a name that is provably one safe component."""
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe file name {name!r}")
    path = directory / name
    if path.parent != directory:
        raise ValueError(f"{name!r} escapes the output directory")
    return path


def prepare_dir(output_dir: Path) -> Path:
    """The output directory, created if missing, as a real (symlink-free) absolute path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    real = output_dir.resolve(strict=True)
    if not real.is_dir():
        raise NotADirectoryError(f"{output_dir} is not a directory")
    return real


def _already_saved(directory: Path, stem: str) -> tuple[Path, str, int] | None:
    """A file saved earlier under this stem, with its type and size: a regular file (not a symlink) with one
    link (not a hardlink planted under the name), whose first bytes are an image of the type its name says.
    Anything else is downloaded again and replaces the name (os.replace never writes through a link)."""
    for ext, mime in _MIME_BY_EXT.items():
        path = _inside(directory, f"{stem}.{ext}")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        with os.fdopen(fd, "rb") as existing:
            st = os.fstat(existing.fileno())
            head = existing.read(16)
        if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size > 0 and sniff_image(head) == mime:
            return path, mime, st.st_size
    return None


async def _save_one(
    http: httpx2.AsyncClient, directory: Path, stem: str, picture: Picture, max_bytes: int, guard: Guard | None
) -> Saved:
    found = _already_saved(directory, stem)
    if found is not None:
        path, mime, size = found
        return Saved(picture.index, path, mime, size)
    temp = directory / f".{stem}.{secrets.token_hex(6)}.part"
    fd = os.open(temp, _OPEN_FLAGS, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            fetched = await fetch_image(http, picture.url, max_bytes=max_bytes, sink=out.write, guard=guard)
            out.flush()
            os.fsync(out.fileno())
        path = _inside(directory, f"{stem}.{IMAGE_TYPES[fetched.mime]}")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Saved(picture.index, path, fetched.mime, fetched.size)


async def save_images(
    http: httpx2.AsyncClient,
    task_id: str,
    created_at: str | None,
    pictures: Sequence[Picture],
    output_dir: Path,
    *,
    max_bytes: int,
    notes: list[str],
    budget: float,
    guard: Guard | None = None,
) -> list[Saved]:
    """Download the task's images into `output_dir` in parallel; failures become notes, not errors.

    What is not saved within `budget` seconds is left for a later call (the names are the same then).
    """
    try:
        directory = await anyio.to_thread.run_sync(prepare_dir, output_dir)
    except OSError as e:
        notes.append(f"No image was saved: the output directory is not usable ({e.strerror or e}).")
        return []
    artifacts = list(pictures[:MAX_FILES])
    if len(pictures) > MAX_FILES:
        notes.append(f"Only the first {MAX_FILES} of {len(pictures)} images were saved.")
    saved: list[Saved] = []
    failed: set[int] = set()
    limiter = anyio.CapacityLimiter(PARALLEL)

    async def save(artifact: Picture) -> None:
        stem = file_stem(task_id, created_at, artifact.index)
        async with limiter:
            try:
                saved.append(await _save_one(http, directory, stem, artifact, max_bytes, guard))
                return
            except FetchError as e:
                problem = e.message
            except OSError as e:
                problem = f"{e.strerror or e}."
        failed.add(artifact.index)
        notes.append(f"Image {artifact.index + 1} was not saved: {problem}")

    with anyio.move_on_after(budget):
        async with anyio.create_task_group() as tg:
            for artifact in artifacts:
                tg.start_soon(save, artifact)
    late = [a.index + 1 for a in artifacts if a.index not in failed and all(f.index != a.index for f in saved)]
    if late:
        numbers = ", ".join(map(str, late))
        notes.append(f"Image(s) {numbers} were not saved in time: call get_task with save=true to finish.")
    return sorted(saved, key=lambda f: f.index)
