"""Real pixels for the simulator: generated artifacts, upload sniffing and a deterministic `describe`."""

from __future__ import annotations

import functools
import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageStat

# What a real Frames image measures per aspect ratio, reported in artifact metadata. Only 16:9 has
# (weak) evidence: 1920x1088; the others keep about the same pixel count, multiples of 16.
FRAMES_SIZES: dict[str, tuple[int, int]] = {
    "16:9": (1920, 1088),
    "9:16": (1088, 1920),
    "1:1": (1440, 1440),
    "4:3": (1664, 1248),
    "3:4": (1248, 1664),
    "21:9": (2240, 960),
}

# Accepted upload types and the Pillow formats their bytes must really have.
UPLOAD_FORMATS: dict[str, frozenset[str]] = {
    "image/png": frozenset({"PNG"}),
    "image/jpeg": frozenset({"JPEG", "MPO"}),
    "image/gif": frozenset({"GIF"}),
    "image/webp": frozenset({"WEBP"}),
}
UPLOAD_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}

_GREY_STYLES = frozenset({"bw", "bw-contrast", "sketch"})

_COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "black": (20, 20, 20),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
    "red": (200, 40, 40),
    "orange": (230, 140, 40),
    "yellow": (230, 210, 60),
    "green": (60, 160, 70),
    "teal": (40, 150, 150),
    "blue": (50, 90, 200),
    "purple": (130, 60, 170),
    "pink": (230, 130, 180),
    "brown": (120, 80, 50),
}


@dataclass(frozen=True)
class ImageSpec:
    """Everything that decides how one generated image looks."""

    seed: int
    index: int
    aspect_ratio: str
    style: str | None
    prompt: str
    longest_side: int


@dataclass(frozen=True)
class Rendered:
    png: bytes
    jpeg: bytes


def served_size(aspect_ratio: str, longest_side: int) -> tuple[int, int]:
    """The real Frames size scaled down so its longest side is `longest_side`."""
    width, height = FRAMES_SIZES[aspect_ratio]
    scale = longest_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fake_file_size(seed: int, index: int) -> int:
    """A plausible byte size for the real full-resolution PNG (1.5..4 MB), stable per image."""
    digest = hashlib.sha256(f"size:{seed}:{index}".encode()).digest()
    return 1_500_000 + int.from_bytes(digest[:4], "big") % 2_500_000


RGB = tuple[int, int, int]


def _grey(colour: RGB) -> RGB:
    level = sum(colour) // 3
    return level, level, level


def _colours(spec: ImageSpec) -> tuple[RGB, RGB]:
    """Two gradient colours, stable per image, nudged by the style preset."""
    d = hashlib.sha256(f"{spec.seed}:{spec.index}:{spec.prompt}".encode()).digest()
    first, second = (d[0], d[1], d[2]), (d[3], d[4], d[5])
    if spec.style in _GREY_STYLES:
        return _grey(first), _grey(second)
    if spec.style and spec.style.endswith("-warm"):
        return (255, first[1], first[2] // 2), (second[0], second[1], second[2] // 2)
    if spec.style and spec.style.endswith("-cool"):
        return (first[0] // 2, first[1], 255), (second[0] // 2, second[1], second[2])
    return first, second


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow built without FreeType: a small bitmap font will do
        return ImageFont.load_default()


def _draw_label(image: Image.Image, text: str, colour: RGB) -> None:
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.text((width / 2, height / 2), text, fill=colour, font=_font(max(8, height // 3)), anchor="mm")
    draw.text((4, height - 4), "SIMULATED", fill=colour, font=_font(max(8, height // 12)), anchor="ld")


def render(spec: ImageSpec) -> Rendered:
    """A gradient at the task's aspect ratio with the image number on it, as PNG and JPEG preview."""
    size = served_size(spec.aspect_ratio, spec.longest_side)
    top, bottom = _colours(spec)
    mask = Image.linear_gradient("L").rotate(spec.index * 90).resize(size)
    image = Image.composite(Image.new("RGB", size, top), Image.new("RGB", size, bottom), mask)
    luminance = sum(ImageStat.Stat(image.convert("L")).mean)
    _draw_label(image, str(spec.index + 1), (0, 0, 0) if luminance > 128 else (255, 255, 255))
    return Rendered(png=_encode(image, "PNG"), jpeg=_preview(image))


def _encode(image: Image.Image, fmt: str, **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _preview(image: Image.Image) -> bytes:
    preview = image.convert("RGB")
    preview.thumbnail((max(8, preview.width // 2), max(8, preview.height // 2)))
    return _encode(preview, "JPEG", quality=80)


def preview_of(data: bytes) -> bytes:
    """A JPEG preview of uploaded image bytes (already verified by `sniff`)."""
    with Image.open(io.BytesIO(data)) as image:
        return _preview(image)


def sniff(data: bytes, mime: str) -> tuple[int, int] | None:
    """The image size if `data` really is an image of type `mime`, else None."""
    allowed = UPLOAD_FORMATS.get(mime)
    if allowed is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, size = image.format, image.size
            image.verify()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return size if fmt in allowed else None


class RenderCache:
    """Generated images per (owner, index): rendering is deterministic, so old entries may be dropped."""

    def __init__(self, capacity: int = 512) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[str, int], Rendered] = OrderedDict()

    def get(self, owner: str, spec: ImageSpec) -> Rendered:
        key = (owner, spec.index)
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        rendered = self._items[key] = render(spec)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return rendered


def _nearest_name(rgb: tuple[int, ...]) -> str:
    return min(_COLOUR_NAMES, key=lambda n: sum((a - b) ** 2 for a, b in zip(_COLOUR_NAMES[n], rgb, strict=False)))


def _dominant_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """The image's palette colours, most frequent first (a 4-colour quantisation of a thumbnail)."""
    small = image.convert("RGB")
    small.thumbnail((64, 64))
    quantised = small.quantize(colors=4)
    palette = quantised.getpalette() or []
    counts = sorted(quantised.getcolors() or [], key=lambda item: item[0], reverse=True)
    indices = [i for _, i in counts if isinstance(i, int)]
    return [tuple(palette[i * 3 : i * 3 + 3]) for i in indices]


def describe(data: bytes) -> str:
    """A Frames starting prompt derived only from the pixels: the same image always reads the same."""
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        colours = _dominant_colours(image)
        brightness = ImageStat.Stat(image.convert("L")).mean[0]
    names = list(dict.fromkeys(_nearest_name(c) for c in colours)) or ["grey"]
    shape = "wide landscape" if width > height * 1.1 else "tall portrait" if height > width * 1.1 else "square"
    light = "bright, airy" if brightness > 160 else "dim, moody" if brightness < 90 else "softly lit"
    accents = " and ".join(names[1:3]) or names[0]
    return (
        f"Subject: a {shape} composition dominated by {names[0]} tones, {width}x{height} pixels. "
        f"Scene: a {light} space with smooth gradients of {accents}. "
        f"Style: minimal abstract colour field, clean edges, {names[0]} palette."
    )
