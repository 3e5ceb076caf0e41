"""The contact sheet: every image of a task, downscaled into one small JPEG grid a model can look at.

Built from the artifacts' preview URLs where they exist (small JPEGs), from the full images otherwise.
Each source is fetched in parallel, streamed and size-capped; one that cannot be fetched or decoded
leaves a numbered placeholder cell and a note, so the sheet (or, when nothing could be fetched, the
result without a sheet) stays valid. Pillow does the work in a worker thread. No MCP types here.
"""

from __future__ import annotations

import functools
import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import httpx2
from PIL import Image, ImageDraw, ImageFont, ImageOps

from frames_mcp.media.downloads import FetchError, fetch_image
from frames_mcp.media.guard import Guard
from frames_mcp.media.pictures import Picture

MAX_SIDE = 768  # px, longest side of the sheet
MAX_BYTES = 150_000  # encoded JPEG
MAX_TILES = 16  # Frames makes 1 or 4 images; anything beyond this is left off the sheet
SOURCE_MAX_BYTES = 8 * 1024 * 1024  # per fetched preview (a full Frames PNG is about 1.5-4 MB)
SOURCE_MAX_PIXELS = 4096 * 4096  # refuse to decode anything bigger (decompression bombs; a Frames image is ~2 MP)
# Pixels decoded for one sheet, all images together (a JPEG counts at its reduced draft size): sixteen previews
# that each pass the per-image cap must not add up (decoded and kept at 6300x6300, they once took 2.9 GB).
# Every image is shrunk to a thumbnail as soon as it is decoded, so one full-size image at most is in memory.
SHEET_MAX_PIXELS = 48_000_000
# Tried in turn until the JPEG fits MAX_BYTES. The sheet is for a glance (the URLs give the full images) and it
# is most of what a finished result costs a model's context: quality 50 is about 0.6x the bytes of 85 for a
# difference hard to see at thumbnail size.
QUALITIES = (50, 40, 30, 20)
SHRINK = 0.75  # when even the lowest quality is too big, the sheet is scaled by this and tried again
GUTTER = 4
BACKGROUND = (24, 24, 24)


@dataclass(frozen=True)
class ContactSheet:
    jpeg: bytes
    width: int
    height: int
    images: list[int]  # artifact indexes, in grid order


async def contact_sheet(
    http: httpx2.AsyncClient,
    artifacts: Sequence[Picture],
    notes: list[str],
    *,
    budget: float,
    guard: Guard | None = None,
) -> ContactSheet | None:
    """The sheet for these artifacts, or None when no image could be fetched; problems go to `notes`.

    Sources not fetched and decoded within `budget` seconds are left off (a placeholder cell), like failed
    ones; `guard` decides which addresses may be fetched at all.
    """
    until = time.monotonic() + budget
    shown = list(artifacts[:MAX_TILES])
    if not shown:
        return None
    if len(artifacts) > MAX_TILES:
        notes.append(f"The contact sheet shows the first {MAX_TILES} of {len(artifacts)} images.")
    sources: dict[int, bytes] = {}
    failed: set[int] = set()

    async def fetch(a: Picture) -> None:
        try:
            got = await fetch_image(http, a.previewUrl or a.url, max_bytes=SOURCE_MAX_BYTES, guard=guard)
        except FetchError as e:
            failed.add(a.index)
            notes.append(f"Image {a.index + 1} is missing from the contact sheet: {e.message}")
        else:
            sources[a.index] = got.data

    with anyio.move_on_after(budget):
        async with anyio.create_task_group() as tg:
            for a in shown:
                tg.start_soon(fetch, a)
    late = [a.index + 1 for a in shown if a.index not in sources and a.index not in failed]
    notes.extend(f"Image {n} is missing from the contact sheet: its preview did not arrive in time." for n in late)
    if not sources:
        return None
    aspect = next((a.width / a.height for a in shown if a.width and a.height), None)
    indexes = [a.index for a in shown]
    sheet = await anyio.to_thread.run_sync(functools.partial(_build, indexes, sources, aspect, notes, until))
    return sheet


class _OverBudget(Exception):
    """The sheet's decoding budget (pixels or time) does not cover this image."""


def _decode(data: bytes, box: tuple[int, int], pixels_left: int) -> tuple[Image.Image, int]:
    """The image as an RGB thumbnail within `box`, and the pixels its decoding cost."""
    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        if width * height > SOURCE_MAX_PIXELS:
            raise ValueError(f"{width}x{height} pixels is too large to decode")
        opened.draft("RGB", box)  # JPEG: decode at a reduced scale, much faster for big images
        cost = opened.size[0] * opened.size[1]
        if cost > pixels_left:
            raise _OverBudget(f"{width}x{height} pixels")
        opened.thumbnail(box, Image.Resampling.LANCZOS, reducing_gap=2.0)  # decoded, then shrunk at once
        image = opened.convert("RGBA")
    flat = Image.new("RGB", image.size, BACKGROUND)
    flat.paste(image, mask=image.getchannel("A"))
    return flat, cost


def _layout(count: int, aspect: float) -> tuple[int, int]:
    """Columns and rows that give each cell (of width/height `aspect`) the most room under MAX_SIDE."""

    def cost(cols: int) -> tuple[float, int]:
        rows = math.ceil(count / cols)
        return max(cols * aspect, rows), cols * rows - count

    cols = min(range(1, count + 1), key=cost)
    return cols, math.ceil(count / cols)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, size: int) -> None:
    font = _font(size)
    _, _, right, bottom = draw.textbbox((x + 3, y + 2), text, font=font)
    draw.rectangle((x, y, right + 3, bottom + 2), fill=(0, 0, 0))
    draw.text((x + 3, y + 2), text, fill=(255, 255, 255), font=font)


def _build(
    indexes: list[int], sources: dict[int, bytes], aspect: float | None, notes: list[str], until: float
) -> ContactSheet | None:
    cells: dict[int, Image.Image] = {}
    pixels_left = SHEET_MAX_PIXELS
    for index in indexes:
        data = sources.pop(index, None)  # the bytes go as soon as they are decoded
        if data is None:
            continue
        if time.monotonic() >= until:
            notes.append(f"Image {index + 1} is missing from the contact sheet: there was no time left to decode it.")
            continue
        try:
            cells[index], cost = _decode(data, (MAX_SIDE, MAX_SIDE), pixels_left)
            pixels_left -= cost
        except _OverBudget as e:
            notes.append(
                f"Image {index + 1} is missing from the contact sheet: its preview is too large ({e}) to decode "
                "beside the others."
            )
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            notes.append(f"Image {index + 1} is missing from the contact sheet: it could not be decoded ({e}).")
    if not cells:
        return None
    if aspect is None:
        first = next(iter(cells.values()))
        aspect = first.width / first.height
    cols, rows = _layout(len(indexes), aspect)
    cell_h = min(
        (MAX_SIDE - (cols + 1) * GUTTER) / (cols * aspect),
        (MAX_SIDE - (rows + 1) * GUTTER) / rows,
        max(c.height for c in cells.values()),  # never upscale small previews
    )
    cell_h = max(8, int(cell_h))
    cell_w = max(8, int(cell_h * aspect))
    sheet = Image.new("RGB", (cols * cell_w + (cols + 1) * GUTTER, rows * cell_h + (rows + 1) * GUTTER), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    label_size = max(10, min(24, cell_h // 8))
    for slot, index in enumerate(indexes):
        x = GUTTER + (slot % cols) * (cell_w + GUTTER)
        y = GUTTER + (slot // cols) * (cell_h + GUTTER)
        cell = cells.get(index)
        if cell is not None:
            fitted = ImageOps.contain(cell, (cell_w, cell_h), Image.Resampling.LANCZOS)
            sheet.paste(fitted, (x + (cell_w - fitted.width) // 2, y + (cell_h - fitted.height) // 2))
        else:
            draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), outline=(90, 90, 90))
        _label(draw, x, y, str(index + 1) if cell is not None else f"{index + 1}: no preview", label_size)
    jpeg, sheet = _encode(sheet)
    return ContactSheet(jpeg=jpeg, width=sheet.width, height=sheet.height, images=indexes)


def _encode(sheet: Image.Image) -> tuple[bytes, Image.Image]:
    """The sheet as a JPEG within MAX_BYTES: quality stepped down, then the sheet shrunk, until it fits."""
    while True:
        for quality in QUALITIES:
            out = io.BytesIO()
            sheet.save(out, format="JPEG", quality=quality, optimize=True)
            if out.tell() <= MAX_BYTES:
                return out.getvalue(), sheet
        size = (max(1, int(sheet.width * SHRINK)), max(1, int(sheet.height * SHRINK)))
        sheet = sheet.resize(size, Image.Resampling.LANCZOS)
