"""How frames-mcp declares tools and prompts on MCPServer: schemas from pydantic models, docstrings as descriptions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.types import INVALID_PARAMS, ToolAnnotations
from pydantic import BaseModel, Field

from frames_mcp.config import WAIT_MAX

# The annotations clients use to decide what to auto-approve: only generate_frames and upload_image change
# anything (and only upstream); every other tool reads.
READS_UPSTREAM = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
READS_LOCAL = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
CHANGES_UPSTREAM = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


def flat_tool(
    model: type[BaseModel], extra: list[inspect.Parameter]
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Expose a request model's fields as top-level tool parameters, so the schema is the model's own."""

    def wrap(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def tool(**kwargs: Any) -> Any:
            return await fn(**kwargs)

        params = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[field.annotation, field],
                default=inspect.Parameter.empty if field.is_required() else field.default,
            )
            for name, field in model.model_fields.items()
        ]
        returns = inspect.signature(fn, eval_str=True).return_annotation
        tool.__signature__ = inspect.Signature([*params, *extra], return_annotation=returns)  # type: ignore[attr-defined]
        # The SDK reads annotations (to find the Context parameter) as well as the signature.
        tool.__annotations__ = {p.name: p.annotation for p in [*params, *extra]} | {"return": returns}
        tool.__name__, tool.__doc__ = fn.__name__, fn.__doc__
        return tool

    return wrap


def wait_param(default: int, description: str) -> inspect.Parameter:
    return inspect.Parameter(
        "wait_seconds",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[int, Field(ge=0, le=WAIT_MAX, description=description)],
        default=default,
    )


def flag_param(name: str, default: bool, description: str) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[bool, Field(description=description)],
        default=default,
    )


def ctx_param() -> inspect.Parameter:
    return inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)


def tool(mcp: MCPServer[Any], **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """mcp.tool with the docstring, dedented, as the description the model reads."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        return mcp.tool(description=inspect.cleandoc(fn.__doc__ or ""), **kwargs)(fn)

    return register


class CheckedPrompt(Prompt):
    """A prompt whose missing arguments are named in the error (the SDK's error says only "Internal error")."""

    async def render(self, arguments: dict[str, Any] | None, context: Any) -> Any:
        missing = [a for a in self.arguments or [] if a.required and not (arguments or {}).get(a.name)]
        if missing:
            wanted = "; ".join(f"{a.name}: {a.description}" for a in missing)
            raise MCPError(INVALID_PARAMS, f"{self.name} needs {wanted}")
        return await super().render(arguments, context)
