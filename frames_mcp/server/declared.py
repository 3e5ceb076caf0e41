"""Tool declarations made ahead of time: the input and output schemas of frames-mcp's tools, as the SDK generates
them, kept in declarations.json beside this module.

Generating them (an argument model per tool and two JSON schemas) was most of build_server's time at every start;
clients list the tools of a freshly spawned server at once, and a start within 10% of a bare MCPServer's is a goal
(BENCHMARKS.md). A tool whose registration matches its entry (same name, signature and options; the defaults
a setting gives are filled in) is served from the file, and its argument model is made at its first call, so the
SDK still validates every call against the signature itself. Anything else goes to the SDK as before.

`python -m frames_mcp.server.declared` writes the file again; tests/test_declared.py fails when it differs from
what the SDK generates, so it cannot drift.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.resolve import find_resolved_parameters
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.context_injection import find_context_parameter
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata, func_metadata
from mcp.shared._callable_inspection import is_async_callable
from mcp.shared.tool_name_validation import validate_and_warn_tool_name
from pydantic import ConfigDict, PrivateAttr

FILE = Path(__file__).with_name("declarations.json")
ENABLED = [True]  # off: every tool goes to the SDK (the generator, and tests comparing against it)
_SCALARS = (bool, int, float, str)  # defaults a setting may give, filled into the schema as they are
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_entries: list[dict[str, Any]] = []
_metadata: dict[str, FuncMetadata] = {}  # argument models made at a first call, per signature (defaults included)


def shape(fn: Callable[..., Any], structured_output: bool | None, context_kwarg: str | None) -> str:
    """What a tool's registration can change in its schemas: the parameters' names, kinds and types, which have
    defaults (a scalar one as its type: settings give some, filled in from the signature), the Context parameter
    (a mark: it shapes none), the return type and whether the output is structured. The constraints and
    descriptions inside the annotations are code, which tests/test_declared.py checks against the file (repr
    of every FieldInfo at each start would cost about a third of what the file saves)."""
    sig = inspect.signature(fn)
    params = [
        (
            p.name,
            p.kind,
            "<context>" if p.name == context_kwarg else getattr(p.annotation, "__origin__", p.annotation),
            type(p.default).__name__ if isinstance(p.default, _SCALARS) else p.default,
        )
        for p in sig.parameters.values()
    ]
    text = _ADDRESS.sub("", repr((params, sig.return_annotation, structured_output)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _entry(name: str) -> dict[str, Any] | None:
    if not _entries:
        _entries.append(json.loads(FILE.read_text(encoding="utf-8")) if FILE.exists() else {})
    found: dict[str, Any] | None = _entries[0].get(name)
    return found


def declare(
    fn: Callable[..., Any],
    name: str,
    title: str | None,
    description: str | None,
    options: dict[str, Any],
    structured_output: bool | None,
) -> Tool | None:
    """The tool `fn` registers as `name` with these options, from the file, set as Tool.from_function sets them;
    None when the file has no entry of its shape."""
    entry = _entry(name) if ENABLED[0] else None
    if entry is None:
        return None
    context_kwarg = find_context_parameter(fn)
    if entry["shape"] != shape(fn, structured_output, context_kwarg) or find_resolved_parameters(fn):
        return None
    validate_and_warn_tool_name(name)
    tool = DeclaredTool.model_construct(  # no fn_metadata: made at the first call
        fn=fn,
        name=name,
        title=title,
        description=description or fn.__doc__ or "",
        parameters=_with_defaults(entry["inputSchema"], fn),
        is_async=is_async_callable(fn),
        context_kwarg=context_kwarg,
        **options,
    )
    tool.__dict__["output_schema"] = entry["outputSchema"]  # Tool.output_schema is a cached_property
    tool._structured_output = structured_output
    return tool


def _with_defaults(schema: dict[str, Any], fn: Callable[..., Any]) -> dict[str, Any]:
    """The schema with each property's default as this registration's signature gives it (settings give some)."""
    props = dict(schema.get("properties", {}))
    for p in inspect.signature(fn).parameters.values():
        if isinstance(p.default, _SCALARS) and "default" in props.get(p.name, {}):
            props[p.name] = {**props[p.name], "default": p.default}
    return {**schema, "properties": props} if "properties" in schema else schema


class DeclaredTool(Tool):
    """A Tool declared from the file: name, schemas and options at once, the argument model at the first call."""

    model_config = ConfigDict(defer_build=True)  # made with model_construct: its validator is never needed
    _structured_output: bool | None = PrivateAttr(default=None)

    def __getattr__(self, item: str) -> Any:
        if item != "fn_metadata":
            return super().__getattr__(item)  # type: ignore[misc]  # pydantic's, for private attributes
        skip = [self.context_kwarg] if self.context_kwarg is not None else []
        key = repr((self.name, self._structured_output, inspect.signature(self.fn)))
        if (meta := _metadata.get(key)) is None:
            meta = _metadata[key] = func_metadata(self.fn, skip_names=skip, structured_output=self._structured_output)
        self.__dict__["fn_metadata"] = meta
        return meta


def generate() -> dict[str, Any]:
    """The file's content: each tool of a server built with the default settings, as the SDK declares it."""
    from frames_mcp.config import Settings
    from frames_mcp.server import declare as declaring
    from frames_mcp.server.app import build_server

    was, ENABLED[0] = ENABLED[0], False
    try:
        with declaring.recording() as shapes:
            mcp = build_server(Settings())
    finally:
        ENABLED[0] = was
    return {
        tool.name: {"shape": shapes[tool.name], "inputSchema": tool.parameters, "outputSchema": tool.output_schema}
        for tool in mcp._tool_manager.list_tools()
    }


def dumps(entries: dict[str, Any]) -> str:
    return json.dumps(entries, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    FILE.write_text(dumps(generate()), encoding="utf-8")
    print(f"wrote {FILE.name}")
