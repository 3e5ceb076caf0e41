"""The last step of generate_frames and get_task: for a finished task, the contact sheet and the saved
files (in parallel, within a time budget), then the result as results.py renders it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
from mcp.types import CallToolResult

from frames_mcp.files import save_images
from frames_mcp.models import PreviewInfo, SavedFile, TaskResult
from frames_mcp.preview import ContactSheet, contact_sheet
from frames_mcp.results import call_tool_result

# Seconds for previews and saving together. The wait for the task comes first (up to 50 s) and clients
# give up at about 60 s, so this stays short; what does not finish is left to a later get_task.
POST_BUDGET = 8.0

NO_OUTPUT_DIR = (
    "save was requested but the server has no output directory: set FRAMES_MCP_OUTPUT_DIR (an absolute path) "
    "in its environment. The images are still at the URLs above."
)


@dataclass(frozen=True)
class Delivery:
    """What to do with a finished task's images, and with what."""

    http: httpx2.AsyncClient  # for artifact downloads: no base URL, no token
    preview: bool
    save: bool
    output_dir: Path | None
    max_bytes: int


async def deliver(result: TaskResult, how: Delivery) -> CallToolResult:
    notes: list[str] = []
    sheet: ContactSheet | None = None
    files: list[SavedFile] = []
    finished = result.status == "SUCCEEDED" and bool(result.artifacts)
    save = how.save and finished
    if save and how.output_dir is None:
        notes.append(NO_OUTPUT_DIR)
        save = False

    async def make_sheet() -> None:
        nonlocal sheet
        sheet = await contact_sheet(how.http, result.artifacts, notes, budget=POST_BUDGET)

    async def make_files() -> None:
        nonlocal files
        assert how.output_dir is not None
        files = await save_images(
            how.http, result, how.output_dir, max_bytes=how.max_bytes, notes=notes, budget=POST_BUDGET
        )

    async with anyio.create_task_group() as tg:
        if how.preview and finished:
            tg.start_soon(make_sheet)
        if save:
            tg.start_soon(make_files)
    info = None
    if sheet is not None:
        info = PreviewInfo(width=sheet.width, height=sheet.height, bytes=len(sheet.jpeg), images=sheet.images)
    elif how.preview and finished:
        notes.append("No contact sheet could be made; the images are at the URLs above.")
    result = result.model_copy(update={"preview": info, "files": files, "notes": [*result.notes, *notes]})
    return call_tool_result(result, sheet=sheet.jpeg if sheet is not None else None)
