"""list_tasks' result: this server's tasks from the ledger and, on request, the account's own task list."""

from __future__ import annotations

import datetime as dt

from mcp.types import CallToolResult, TextContent

from frames_mcp.jobs.ledger import summarize
from frames_mcp.server.results.schemas import AccountTaskOut, LedgerTaskOut, TaskListResult
from frames_mcp.store import TaskRecord
from frames_mcp.useapi.models import Task


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ledger_task(record: TaskRecord) -> LedgerTaskOut:
    return LedgerTaskOut(
        taskId=record.taskId,
        account=record.account,
        prompt=summarize(record.prompt),
        createdAt=_iso(record.created),
        status=record.status,
        done=record.done,
        progress=record.progress,
        checkedAt=_iso(record.updated),
    )


def account_task(task: Task) -> AccountTaskOut:
    prompt = (task.options or {}).get("text_prompt")
    return AccountTaskOut(
        taskId=task.taskId,
        status=task.status,
        done=task.is_terminal,
        progress=task.fraction_done,
        prompt=summarize(prompt) if isinstance(prompt, str) else None,
        createdAt=task.createdAt,
        images=sum(1 for a in task.artifacts if a.url),
    )


def _listed_line(
    n: int, task_id: str, status: str, progress: float | None, prompt: str | None, when: str | None
) -> str:
    done = f" {progress:.0%}" if progress is not None and status not in ("SUCCEEDED",) else ""
    about = f' "{prompt}"' if prompt else ""
    created = f" (created {when})" if when else ""
    return f"{n}. {status}{done}{about}{created}: taskId {task_id}"


def task_list_result(r: TaskListResult) -> CallToolResult:
    if r.storeError:
        head = f"This server's task records could not be read: {r.storeError}. Use account=true for the account's list."
    elif r.tasks:
        head = f"{len(r.tasks)} task(s) created by this server, newest first:"
    else:
        head = "No tasks created by this server match (account=true also lists the account's own task list)."
    lines = [head]
    lines += [_listed_line(i, t.taskId, t.status, t.progress, t.prompt, t.createdAt) for i, t in enumerate(r.tasks, 1)]
    if r.account is not None:
        lines.append(f"The account's task list at useapi.net ({len(r.account)} shown):")
        lines += [
            _listed_line(i, t.taskId, t.status, t.progress, t.prompt, t.createdAt) for i, t in enumerate(r.account, 1)
        ]
    if r.accountError:
        lines.append(f"The account's task list could not be read: {r.accountError}")
    if any(not t.done for t in r.tasks):
        lines.append("Call get_task with a taskId (and wait_seconds) to wait for an unfinished task or get its images.")
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))],
        structured_content=r.model_dump(mode="json", exclude_none=True),
    )
