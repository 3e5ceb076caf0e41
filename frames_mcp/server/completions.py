"""completion/complete: the prompt's style and aspect_ratio, and the taskIds this server handed out lately."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from frames_mcp.jobs.ledger import Ledger
from frames_mcp.server.tasks import TASK_TEMPLATE
from frames_mcp.useapi.models import ASPECT_RATIOS, STYLES

LIMIT = 100  # the most values one completion answer may carry (the spec's cap)


def register(mcp: MCPServer[Any], ledger: Ledger) -> None:
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        choices: tuple[str, ...] | list[str] | None = None
        if isinstance(ref, PromptReference) and ref.name == "frames_prompt":
            choices = {"style": STYLES, "aspect_ratio": ASPECT_RATIOS}.get(argument.name)
        elif isinstance(ref, ResourceTemplateReference) and ref.uri == TASK_TEMPLATE and argument.name == "taskId":
            choices = ledger.handed_ids()
        if choices is None:
            return None
        values = [c for c in choices if c.lower().startswith(argument.value.lower())]
        return Completion(values=values[:LIMIT], total=len(values), has_more=len(values) > LIMIT)

    mcp.completion()(complete)  # type: ignore[no-untyped-call]  # the SDK's decorator is untyped
