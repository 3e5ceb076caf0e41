"""The last step of a finished task: its contact sheet and its saved files, made in parallel within a time budget.

What could not be done becomes a note, never an error. No MCP types here: the MCP surface turns a `Delivered`
into the tool result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2

from frames_mcp.media.guard import Guard
from frames_mcp.media.pictures import Picture
from frames_mcp.media.saving import Saved, save_images
from frames_mcp.media.sheet import ContactSheet, contact_sheet

# Seconds for previews and saving together. The wait for the task comes first (up to 50 s) and clients
# give up at about 60 s, so this stays short; what does not finish is left to a later get_task.
POST_BUDGET = 8.0

NO_OUTPUT_DIR = (
    "save was requested but the server has no output directory: set FRAMES_MCP_OUTPUT_DIR (an absolute path) "
    "in its environment. The images are still at the URLs above."
)
NO_SHEET = "No contact sheet could be made; the images are at the URLs above."


@dataclass(frozen=True)
class Delivery:
    """What to do with a finished task's images, and with what."""

    http: httpx2.AsyncClient  # for artifact downloads: no base URL, no token
    preview: bool
    save: bool
    output_dir: Path | None
    max_bytes: int
    guard: Guard | None = None  # which addresses artifact and preview URLs may point at


@dataclass(frozen=True)
class Delivered:
    sheet: ContactSheet | None = None
    files: list[Saved] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def deliver(task_id: str, created_at: str | None, pictures: Sequence[Picture], how: Delivery) -> Delivered:
    """The sheet (when `how.preview`) and the saved files (when `how.save`) of a finished task's images."""
    notes: list[str] = []
    sheet: ContactSheet | None = None
    files: list[Saved] = []
    save = how.save
    if save and how.output_dir is None:
        notes.append(NO_OUTPUT_DIR)
        save = False

    async def make_sheet() -> None:
        nonlocal sheet
        sheet = await contact_sheet(how.http, pictures, notes, budget=POST_BUDGET, guard=how.guard)

    async def make_files(output_dir: Path) -> None:
        nonlocal files
        files = await save_images(
            how.http,
            task_id,
            created_at,
            pictures,
            output_dir,
            max_bytes=how.max_bytes,
            notes=notes,
            budget=POST_BUDGET,
            guard=how.guard,
        )

    async with anyio.create_task_group() as tg:
        if how.preview:
            tg.start_soon(make_sheet)
        if save and how.output_dir is not None:
            tg.start_soon(make_files, how.output_dir)
    if how.preview and sheet is None:
        notes.append(NO_SHEET)
    return Delivered(sheet, files, notes)
