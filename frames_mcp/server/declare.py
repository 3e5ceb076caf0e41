"""How frames-mcp declares tools and prompts on MCPServer: schemas from pydantic models, docstrings as descriptions."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp.types import INVALID_PARAMS, Icon, ToolAnnotations
from pydantic import BaseModel, Field

from frames_mcp.config import WAIT_MAX
from frames_mcp.server import declared

LifespanT = TypeVar("LifespanT")

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
    """mcp.tool with the docstring, dedented, as the description the model reads, and a lean input schema."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        registered = mcp.tool(description=inspect.cleandoc(fn.__doc__ or ""), **kwargs)(fn)
        # The SDK keeps the schema it generated on its Tool; the pinned mcp 2.3.0 has no public way to replace it.
        made = mcp._tool_manager.get_tool(kwargs.get("name") or fn.__name__)
        if made is not None and not isinstance(made, declared.DeclaredTool):  # the file's are lean already
            made.parameters = lean_schema(made.parameters)
        return registered

    return register


# The SDK generates a tool's argument model and its schemas from the signature at every registration: most of
# build_server's time. frames-mcp's own tools come from declarations.json instead (server/declared.py).
_RECORDING: list[dict[str, str]] = []


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """The shape (declared.shape) of each tool registered meanwhile, by name: what the generator writes."""
    _RECORDING.append({})
    try:
        yield _RECORDING[-1]
    finally:
        _RECORDING.pop()


class DeclaredServer(MCPServer[LifespanT]):
    """MCPServer whose tools come from declarations.json when they match their entry there; any other tool is
    declared by the SDK, as MCPServer does."""

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | None = None,
        icons: list[Icon] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
    ) -> None:
        tool_name, tools = name or fn.__name__, self._tool_manager._tools
        if tool_name not in tools:  # else the SDK's answer to a second tool of one name (a warning, the first kept)
            if _RECORDING:
                _RECORDING[-1][tool_name] = declared.shape(fn, structured_output, find_context_parameter(fn))
            given = {"annotations": annotations, "icons": icons, "meta": meta}
            if (ahead := declared.declare(fn, tool_name, title, description, given, structured_output)) is not None:
                tools[tool_name] = ahead
                return
        super().add_tool(fn, name, title, description, annotations, icons, meta, structured_output)


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema as a model reads it (every tool call pays for it): the same constraints without pydantic's
    generated titles, examples and `"default": null`, and an optional `X | None` as plain X (leaving a parameter
    out is how a model says "none"; the server still accepts an explicit null)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "examples") or (key == "default" and value is None):
            continue
        if key == "properties":
            out[key] = {name: lean_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = lean_schema(value)
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [lean_schema(sub) for sub in value]
        else:
            out[key] = value
    choices = out.get("anyOf")
    if isinstance(choices, list) and len(choices) == 2 and {"type": "null"} in choices:
        (other,) = [c for c in choices if c != {"type": "null"}]
        del out["anyOf"]
        # The parameter's own description says it for this use; the type's is the fallback.
        out = {**other, **out} if "description" in out else {**out, **other}
    return out


class CheckedPrompt(Prompt):
    """A prompt whose missing arguments are named in the error (the SDK's error says only "Internal error")."""

    async def render(self, arguments: dict[str, Any] | None, context: Any) -> Any:
        missing = [a for a in self.arguments or [] if a.required and not (arguments or {}).get(a.name)]
        if missing:
            wanted = "; ".join(f"{a.name}: {a.description}" for a in missing)
            raise MCPError(INVALID_PARAMS, f"{self.name} needs {wanted}")
        return await super().render(arguments, context)
