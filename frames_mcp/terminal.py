"""Two commands for people at a terminal, not for MCP clients: `frames-mcp doctor` and `frames-mcp generate`.

Both open the same session as the server (session.py: the useapi client and the jobs service, or the demo
simulator), so a generation from a shell runs exactly as one from a client. Results go to stdout (one line
each, for pipelines); progress and explanations go to stderr.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from tqdm import tqdm

from frames_mcp.config import Settings
from frames_mcp.jobs.events import Event
from frames_mcp.session import Session, open_session
from frames_mcp.store import StoreError, open_store
from frames_mcp.useapi.errors import FramesError
from frames_mcp.useapi.models import FramesRequest

DOCTOR_TIMEOUT = 20.0  # seconds for each upstream check
FOLLOW_SECONDS = 50  # one get_task-sized wait at a time until the task ends


# ---- doctor ---------------------------------------------------------------------------------------------


class Report:
    """One line per check: `ok`, `--` (nothing to check) or `PROBLEM`; any problem makes the exit status 1."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems = 0

    def line(self, status: str, check: str, detail: str) -> None:
        self.problems += status == "PROBLEM"
        print(f"{status:<8} {check:<18} {detail}", file=self.out, flush=True)


async def doctor(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Check the configuration, the token and accounts, reachability, credits, the output directory and the
    store; 0 when nothing is wrong. Prints account emails and maxJobs only: the accounts answer also holds
    passwords and JWTs, which are never printed or kept."""
    report = Report(out)
    where = "the built-in simulator (--demo)" if settings.demo else settings.base_url
    report.line("ok", "configuration", f"useapi at {where}; generate_frames waits {settings.wait_seconds} s")
    if settings.token is None and not settings.demo:
        report.line("PROBLEM", "token", "USEAPI_TOKEN is not set: get one at useapi.net (or try --demo)")
    else:
        # The store is checked on its own below: the upstream checks record nothing, so they need none of it.
        async with open_session(settings, store=open_store("memory")) as session:
            await _check_upstream(session, settings, report)
    _check_output_dir(settings.output_dir, report)
    await _check_store(settings, report)
    return 1 if report.problems else 0


async def _check_upstream(session: Session, settings: Settings, report: Report) -> None:
    started = time.monotonic()
    try:
        accounts = await session.client.accounts(deadline=started + DOCTOR_TIMEOUT)
    except FramesError as e:
        report.line("PROBLEM", "token and accounts", e.describe())
        return
    report.line("ok", "reachability", f"GET /accounts answered in {(time.monotonic() - started) * 1000:.0f} ms")
    if not accounts:
        report.line("PROBLEM", "accounts", "no Runway account is linked to this token: add one at useapi.net")
        return
    for a in accounts:
        jobs = f"maxJobs {a.max_jobs}" if a.max_jobs is not None else "maxJobs not reported"
        if a.problem:
            report.line("PROBLEM", "account", f"{a.email}: {jobs}; useapi.net reports: {a.problem}")
        else:
            report.line("ok", "account", f"{a.email}: {jobs}")
    if settings.email and settings.email not in {a.email for a in accounts}:
        report.line("PROBLEM", "USEAPI_EMAIL", f"{settings.email} is not one of the linked accounts")
    for a in accounts:
        if a.problem:
            continue
        try:
            credits = await session.client.credits(a.email, deadline=time.monotonic() + DOCTOR_TIMEOUT)
        except FramesError as e:
            credits, why = None, e.describe()
        else:
            why = "useapi.net does not report them"
        if credits is None:
            report.line("--", "credits", f"{a.email}: {why}")
        else:
            used, permitted = credits
            report.line("ok", "credits", f"{a.email}: {max(permitted - used, 0)} of {permitted} left")


def _check_output_dir(output_dir: Path | None, report: Report) -> None:
    if output_dir is None:
        report.line("--", "output directory", "FRAMES_MCP_OUTPUT_DIR is not set: images are not saved (save)")
        return
    existing = next((p for p in (output_dir, *output_dir.parents) if p.exists()), None)
    if existing is not None and os.access(existing, os.W_OK | os.X_OK):
        made = "" if existing == output_dir else " (created on first save)"
        report.line("ok", "output directory", f"{output_dir} is writable{made}")
    else:
        report.line("PROBLEM", "output directory", f"{output_dir} cannot be written: check FRAMES_MCP_OUTPUT_DIR")


async def _check_store(settings: Settings, report: Report) -> None:
    """Where the task store is and whether it answers (a read only: doctor writes nothing there)."""
    try:
        store = open_store(settings.store_url)
    except StoreError as e:
        report.line("PROBLEM", "store", f"{e.message} (FRAMES_MCP_STORE)")
        return
    try:
        with anyio.fail_after(DOCTOR_TIMEOUT):
            recent = await store.records.list_tasks(limit=1)
    except (StoreError, TimeoutError) as e:
        report.line("PROBLEM", "store", f"{store.describe()} did not answer: {getattr(e, 'message', 'timed out')}")
    else:
        newest = f"; newest task {recent[0].taskId}" if recent else "; no task recorded yet"
        report.line("ok", "store", f"{store.describe()}{newest}")
    finally:
        await store.close()


# ---- generate -------------------------------------------------------------------------------------------


async def generate(
    settings: Settings, request: FramesRequest, out_dir: Path, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """One generation, waited for to the end with a progress bar; the images saved in `out_dir` and every
    URL printed. The taskId is printed first (on stderr), so an interrupted run can be picked up."""
    async with open_session(settings) as session:
        with tqdm(total=100, desc="generating", unit="%", file=err, bar_format="{desc}: {bar} {n:.0f}%") as bar:
            try:
                run = await session.jobs.generate(request, settings.wait_seconds, _bar_updater(bar))
                bar.write(f"taskId {run.task.taskId}", file=err)
                while not run.task.is_terminal and run.error is None:
                    run = await session.jobs.follow(run.task.taskId, FOLLOW_SECONDS, _bar_updater(bar))
            except FramesError as e:
                print(f"frames-mcp: {e.describe()}", file=err)
                return 1
        if run.error is not None:
            print(f"frames-mcp: {run.error.describe()} (taskId {run.task.taskId})", file=err)
            return 1
        task = run.task
        if not task.succeeded or not task.artifacts:
            reason = task.error.summary() if task.error else "no images"
            print(f"frames-mcp: task {task.taskId} ended {task.status}: {reason}", file=err)
            return 1
        return await _save_and_print(session, settings, task, out_dir, out, err)


def _bar_updater(bar: Any) -> Callable[[Event], Any]:
    from frames_mcp.server.progress import progress_of  # the same words an MCP client shows

    async def update(event: Event) -> None:
        value, message = progress_of(event)
        bar.n = max(bar.n, round(value * 100))
        bar.set_description_str(message[:60], refresh=False)
        bar.refresh()

    return update


async def _save_and_print(
    session: Session, settings: Settings, task: Any, out_dir: Path, out: TextIO, err: TextIO
) -> int:
    from frames_mcp.media.saving import save_images
    from frames_mcp.server.results.render import pictures

    images = pictures(task)
    notes: list[str] = []
    saved = await save_images(
        session.downloads,
        task.taskId,
        task.createdAt,
        images,
        out_dir,
        max_bytes=settings.max_image_bytes,
        notes=notes,
        budget=120.0,
    )
    for image in images:
        print(image.url, file=out)
    for s in sorted(saved, key=lambda s: s.index):
        print(f"saved image {s.index + 1}: {s.path}", file=err)
    for note in notes:
        print(f"note: {note}", file=err)
    if settings.demo:
        print("demo mode: the images are simulated placeholders, not Runway output", file=err)
    return 0 if len(saved) == len(images) else 1
