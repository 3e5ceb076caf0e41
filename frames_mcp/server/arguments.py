"""Refused tool arguments, answered in the server's words: which argument, what is allowed, what to do next.

The SDK validates a call's arguments against the tool's signature and answers a refusal with pydantic's own
text ("1 validation error for generate_framesArguments ... https://errors.pydantic.dev/...", or a raw regex
for a taskId). This middleware runs the same validation first and, when it refuses, answers an isError
result the model can act on. Valid calls pass through untouched, so the tools' behaviour is the SDK's.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import ValidationError

from frames_mcp.useapi.ids import TASK_ID_FORM

# Arguments whose pattern means something a person can follow, in words.
_FORMS = {
    "taskId": f"a taskId of the form {TASK_ID_FORM}, exactly as generate_frames or list_tasks returned it",
    "assetId": "an assetId as upload_image or a finished task's artifacts[].assetId gave it (one path segment of "
    "letters, digits and . _ : @ + -)",
    "email": "an email address such as you@example.com",
    "replyUrl": "an http or https URL without spaces",
}
_NEXT = {
    "taskId": "list_tasks shows the tasks this server created (account=true adds the account's own task list).",
    "assetId": "upload_image gives one for an image; get_task shows the assetIds of a finished task's images.",
}


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]


def allowed(name: str, prop: dict[str, Any]) -> str:
    """What the schema allows for one argument, in words."""
    optional = any(b.get("type") == "null" for b in prop.get("anyOf", []))
    words: list[str] = []
    for branch in _branches(prop):
        kind = branch.get("type")
        if "enum" in branch:
            words.append("one of " + ", ".join(str(v) for v in branch["enum"]))
        elif name.startswith("imageAssetId") or name in _FORMS:
            words.append(_FORMS["assetId" if name.startswith("imageAssetId") else name])
        elif kind == "integer":
            low, high = branch.get("minimum"), branch.get("maximum")
            span = f" from {low} to {high}" if low is not None and high is not None else ""
            words.append(f"a whole number{span}")
        elif kind == "boolean":
            words.append("true or false")
        elif kind == "string":
            low, high = branch.get("minLength"), branch.get("maxLength")
            span = f" of {low or 0}-{high} characters" if high is not None else ""
            words.append(f"text{span}")
    text = " or ".join(words) or "a value of the documented type"
    return f"{text} (or left out)" if optional else text


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty text" if not value else f"{value[:60]!r}" + ("..." if len(value) > 60 else "")
    if isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def explain(tool: str, error: ValidationError, schema: dict[str, Any], args: dict[str, Any]) -> str:
    """The refusal as the model should read it."""
    props: dict[str, Any] = schema.get("properties", {})
    lines = [f"{tool} was not run: these arguments are not what it accepts (nothing was sent to useapi.net):"]
    after: list[str] = []
    for name in dict.fromkeys(str(e["loc"][0]) for e in error.errors() if e["loc"]):
        prop = props.get(name, {})
        if name not in args:
            lines.append(f"- `{name}` is required: {allowed(name, prop)}.")
        else:
            lines.append(f"- `{name}` must be {allowed(name, prop)}; got {_got(args[name])}.")
        if name in _NEXT:
            after.append(_NEXT[name])
    lines.append(f"Fix {'it' if len(lines) == 2 else 'them'} and call {tool} again. " + " ".join(after))
    return "\n".join(lines).strip()


class ArgumentCheck:
    """Server middleware: a tools/call whose arguments the tool would refuse gets `explain`'s answer."""

    def __init__(self, mcp: MCPServer[Any]) -> None:
        self._mcp = mcp

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not ctx.params:
            return await call_next(ctx)
        name, args = ctx.params.get("name"), ctx.params.get("arguments") or {}
        tool = self._mcp._tool_manager.get_tool(name) if isinstance(name, str) else None
        if tool is None or not isinstance(args, dict):
            return await call_next(ctx)
        try:
            tool.fn_metadata.validate_arguments(args)
        except ValidationError as e:
            text = explain(tool.name, e, tool.parameters, args)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return await call_next(ctx)
