"""The frames_prompt prompt: how to write a strong Frames text_prompt.

Built from what the sources say (Runway's Gen-4 Image and prompting guides, the Gen-3 Alpha guide, Runway
Academy's shot vocabulary, useapi's reference-image convention); the style notes are readings of the
preset names, as catalog.py says.
"""

# No `from __future__ import annotations` here: the SDK reads the annotations of every tool at each start,
# and as strings they would be evaluated there again, twice per tool (startup, BENCHMARKS.md).
from typing import Annotated, Any

from mcp import MCPError
from mcp.server.mcpserver import MCPServer
from mcp.types import INVALID_PARAMS
from pydantic import Field

from frames_mcp.server import declare
from frames_mcp.server.catalog import STYLE_NOTES
from frames_mcp.useapi.models import ASPECT_RATIOS, PROMPT_MAX, STYLES

SUBJECT_MAX = 2000

ASPECT_NOTES: dict[str, str] = {
    "16:9": "landscape (the default): establishing shots, horizontal subjects, room for scenery around the subject",
    "9:16": "vertical: portraits, full-length figures, tall architecture; keep the subject centred or in the upper "
    "third",
    "1:1": "square: centred or symmetrical compositions, products, icons, close-ups",
    "4:3": "classic photo frame: balanced medium shots and interiors",
    "3:4": "portrait photo frame: head-and-shoulders and standing figures",
    "21:9": "cinematic ultra-wide: panoramas and film stills, subject off-centre with the scene around it",
}
_CAMERA_PRESETS = frozenset({"low-angle", "in-motion"})


def argument_problem(subject: str | None, style: str | None, aspect_ratio: str | None) -> str | None:
    """What is wrong with the prompt's arguments, in a sentence, or None."""
    if not subject or not subject.strip():
        return "frames_prompt needs a subject: what the image should show, e.g. 'a lighthouse in a storm'."
    if len(subject) > SUBJECT_MAX:
        return f"The subject is too long ({len(subject)} characters); describe it in under {SUBJECT_MAX}."
    if style and style not in STYLES:
        return f"Unknown style {style!r}. Frames styles: {', '.join(STYLES)} (or leave style out)."
    if aspect_ratio and aspect_ratio not in ASPECT_RATIOS:
        return f"Unknown aspect_ratio {aspect_ratio!r}. Frames aspect ratios: {', '.join(ASPECT_RATIOS)}."
    return None


def _style_rule(style: str | None) -> str:
    if not style:
        return (
            "- No style preset was chosen: describe the look in words, or pick one from list_styles (for example "
            "vivid, muted-pastel, dreamscape, bw-contrast, painted-anime) and pass it as style."
        )
    rule = f'- Style preset "{style}" ({STYLE_NOTES[style]}) sets the look of the whole set: '
    if style in _CAMERA_PRESETS:
        return rule + "do not describe a conflicting camera angle or motion in the prompt."
    return rule + "do not describe a colour grade or palette that contradicts it."


def _aspect_rule(aspect_ratio: str | None) -> str:
    if not aspect_ratio:
        return "- Aspect ratio: 16:9 unless the subject suits another (9:16 vertical, 1:1, 4:3, 3:4, 21:9 ultra-wide)."
    return f"- Aspect ratio {aspect_ratio}: {ASPECT_NOTES[aspect_ratio]}. Compose for that frame."


def guidance(subject: str, style: str | None, aspect_ratio: str | None) -> str:
    """The message that asks the assistant to write the prompt, and how."""
    call = ["text_prompt=<your prompt>"]
    call += [f'style="{style}"'] if style else []
    call += [f'aspect_ratio="{aspect_ratio}"'] if aspect_ratio else []
    return "\n".join(
        [
            f"Write a Runway Frames text_prompt for this subject: {subject.strip()}",
            "",
            "Build it from these parts, one clause each (Runway reads an image as subject, scene and style):",
            "1. Camera: shot size (macro, close-up, medium, full, wide, extreme wide, establishing) and angle "
            "(eye level, low, high, aerial, bird's-eye, worm's-eye, over-the-shoulder, POV).",
            "2. Subject: who or what, with concrete attributes (material, colour, age, clothing, texture) and the "
            "action or pose.",
            "3. Scene: where, with two or three specific details of the setting.",
            "4. Lighting: source, quality and time of day (golden-hour backlight, soft overcast light, neon rim "
            "light).",
            "5. Style and mood: medium (photograph, film still, oil painting, 3D render), lens or film feel, "
            "palette, atmosphere.",
            "",
            "Template: [shot + angle]: [subject with attributes] [action], [scene]. [lighting, time of day]. "
            "[mood and style].",
            "",
            "Rules:",
            "- Describe what should be in the frame and phrase everything positively ('a clear sky', not "
            "'no clouds'): Frames has no negative prompt.",
            f"- Stay under {PROMPT_MAX} characters (the API's limit); 40-80 words is usually enough. Start simple "
            "and add one element at a time when you iterate.",
            "- Repeating the key idea in a second clause makes the image follow it more closely.",
            "- Refer to people in general terms rather than by name.",
            _style_rule(style),
            _aspect_rule(aspect_ratio),
            "- Reference images: if the user has images to use, upload each with upload_image, pass the assetIds "
            "as imageAssetId1..3 and cite them in the prompt as @IMG_1, @IMG_2, @IMG_3 (e.g. '@IMG_1 riding a "
            "@IMG_2 with @IMG_3'). describe_image turns an uploaded image into a starting prompt.",
            "- diversity (Aesthetic Range, 0-5) only widens how much the images of one set differ: 0-2 with a "
            "fixed seed for a consistent set, 4-5 to explore ideas.",
            "",
            f"Then call generate_frames with {', '.join(call)}, and show the user the prompt you used.",
        ]
    )


def frames_prompt(
    subject: Annotated[str, Field(description="What the image should show, e.g. 'a lighthouse in a storm'.")],
    style: Annotated[str | None, Field(description="Optional Frames style preset (see list_styles).")] = None,
    aspect_ratio: Annotated[
        str | None, Field(description="Optional aspect ratio: 16:9, 9:16, 1:1, 4:3, 3:4 or 21:9.")
    ] = None,
) -> str:
    problem = argument_problem(subject, style, aspect_ratio)
    if problem is not None:
        raise MCPError(INVALID_PARAMS, problem)
    return guidance(subject, style or None, aspect_ratio or None)


def register(mcp: MCPServer[Any]) -> None:
    mcp.add_prompt(
        declare.CheckedPrompt.from_function(
            frames_prompt,
            name="frames_prompt",
            title="Write a Frames prompt",
            description="Guides you to write a strong Runway Frames text_prompt (subject, scene, lighting, camera, "
            "style) for a subject, then to call generate_frames.",
        )
    )
