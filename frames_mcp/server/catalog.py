"""What the model may ask for: styles, aspect ratios and ranges (the list_styles tool and frames://styles)."""

# No `from __future__ import annotations` here: the SDK reads the annotations of every tool at each start,
# and as strings they would be evaluated there again, twice per tool (startup, BENCHMARKS.md).
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import Field

from frames_mcp.server import declare
from frames_mcp.server.results.compact import Deferred
from frames_mcp.useapi.models import (
    ASPECT_RATIOS,
    DIVERSITY_DEFAULT,
    DIVERSITY_MAX,
    DIVERSITY_MIN,
    PROMPT_MAX,
    SEED_MAX,
    SEED_MIN,
    STYLES,
)

# No source describes the presets; these readings of their names are labelled as such in the output.
STYLE_NOTES: dict[str, str] = {
    "vivid": "saturated, punchy colour, neutral white balance",
    "vivid-warm": "saturated with a warm (amber/orange) grade",
    "vivid-cool": "saturated with a cool (teal/blue) grade",
    "high-contrast": "deep blacks and bright highlights, dramatic tone curve",
    "high-contrast-warm": "high contrast plus a warm grade",
    "high-contrast-cool": "high contrast plus a cool grade",
    "bw": "black-and-white, normal contrast",
    "bw-contrast": "black-and-white, hard contrast (noir-like)",
    "muted-pastel": "desaturated, soft pastel palette, low contrast",
    "dreamscape": "surreal, hazy, dreamlike atmosphere",
    "nordic-minimal": "clean Scandinavian minimalism, light neutral tones, negative space",
    "light-anime": "bright, airy anime illustration",
    "dark-anime": "moody, low-key anime illustration",
    "painted-anime": "anime with a painterly, background-art texture",
    "3d-cartoon": "stylised 3D animated-film render",
    "sketch": "pencil or ink drawing look",
    "low-angle": "camera preset: looking up at the subject (avoid prompting a conflicting angle)",
    "in-motion": "motion preset: blur or dynamic action framing",
    "terracotta": "earthy warm palette: clay, rust, ochre",
}

# Pixel sizes: only these two are evidenced (Runway web requests, ~1080p output); artifacts report the real size.
KNOWN_SIZES: dict[str, tuple[int, int]] = {"16:9": (1920, 1088), "9:16": (1088, 1920)}


class StyleInfo(Deferred):
    name: str
    look: str = Field(description="A reading of the preset's name; Runway publishes no descriptions.")


class AspectInfo(Deferred):
    ratio: str
    width: int | None = Field(default=None, description="Approximate output width in pixels, where known.")
    height: int | None = None
    default: bool = False


class Range(Deferred):
    minimum: int
    maximum: int
    default: int | None = None


class Catalog(Deferred):
    """The values generate_frames accepts."""

    styles: list[StyleInfo]
    aspect_ratios: list[AspectInfo]
    diversity: Range
    seed: Range
    num_images: list[int]
    text_prompt_max_length: int
    notes: list[str]


def build() -> Catalog:
    return Catalog(
        styles=[StyleInfo(name=s, look=STYLE_NOTES[s]) for s in STYLES],
        aspect_ratios=[
            AspectInfo(
                ratio=r,
                width=KNOWN_SIZES.get(r, (None, None))[0],
                height=KNOWN_SIZES.get(r, (None, None))[1],
                default=r == "16:9",
            )
            for r in ASPECT_RATIOS
        ],
        diversity=Range(minimum=DIVERSITY_MIN, maximum=DIVERSITY_MAX, default=DIVERSITY_DEFAULT),
        seed=Range(minimum=SEED_MIN, maximum=SEED_MAX),
        num_images=[1, 4],
        text_prompt_max_length=PROMPT_MAX,
        notes=[
            "Leave style out for no preset. A style fixes the look of the whole set; diversity (Aesthetic Range) "
            "widens how much the images of one set differ.",
            "For a consistent set use a fixed seed and diversity 0-2; to explore, diversity 4-5.",
            "Output is about 1080p; each artifact reports its real width and height.",
        ],
    )


def as_text(cat: Catalog) -> str:
    ratios = ", ".join(
        f"{a.ratio}{f' ({a.width}x{a.height})' if a.width else ''}{' default' if a.default else ''}"
        for a in cat.aspect_ratios
    )
    styles = "\n".join(f"- {s.name}: {s.look}" for s in cat.styles)
    return (
        f"Styles ({len(cat.styles)}; descriptions are readings of the names):\n{styles}\n"
        f"Aspect ratios: {ratios}.\n"
        f"diversity: {cat.diversity.minimum}-{cat.diversity.maximum} (default {cat.diversity.default}); "
        f"seed: {cat.seed.minimum}-{cat.seed.maximum}; num_images: 1 or 4 (default 4); "
        f"text_prompt: up to {cat.text_prompt_max_length} characters.\n" + "\n".join(cat.notes)
    )


def register(mcp: MCPServer[Any]) -> None:
    @declare.tool(
        mcp,
        title="List Frames styles and options",
        annotations=declare.READS_LOCAL,
    )
    def list_styles() -> Annotated[CallToolResult, Catalog]:
        """List the 19 image style presets, the aspect ratios and the ranges generate_frames accepts."""
        cat = build()
        return CallToolResult(
            content=[TextContent(type="text", text=as_text(cat))],
            structured_content=cat.model_dump(mode="json"),
        )

    @mcp.resource(
        "frames://styles",
        name="styles",
        title="Frames styles and options",
        description="The style presets, aspect ratios and parameter ranges of Runway Frames, as JSON.",
        mime_type="application/json",
    )
    def styles_resource() -> str:
        return build().model_dump_json(indent=2)
