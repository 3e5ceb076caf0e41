"""The tool declarations made ahead of time (frames_mcp/server/declarations.json) are what the SDK declares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from frames_mcp.config import Settings
from frames_mcp.server import declare, declared
from frames_mcp.server.app import build_server

from .conftest import wire

pytestmark = pytest.mark.anyio


@contextmanager
def sdk_declarations() -> Iterator[None]:
    """Every tool declared by the SDK, as without the file."""
    was, declared.ENABLED[0] = declared.ENABLED[0], False
    try:
        yield
    finally:
        declared.ENABLED[0] = was


async def _listed(settings: Settings) -> list[dict[str, Any]]:
    async with Client(build_server(settings)) as client:
        return [wire(t) for t in (await client.list_tools()).tools]


def test_the_file_is_what_the_sdk_declares() -> None:
    # Run `python -m frames_mcp.server.declared` after changing a tool's signature, options or result model.
    assert declared.dumps(declared.generate()) == declared.FILE.read_text(encoding="utf-8")


def test_every_tool_of_a_default_server_comes_from_the_file() -> None:
    tools = build_server(Settings())._tool_manager.list_tools()
    assert len(tools) == 7
    assert [t.name for t in tools if not isinstance(t, declared.DeclaredTool)] == []


async def test_defaults_given_by_settings_are_listed_as_the_sdk_lists_them(tmp_path: Path) -> None:
    settings = Settings(wait_seconds=7, preview=False, output_dir=tmp_path, store="memory")
    ahead = await _listed(settings)
    with sdk_declarations():
        assert ahead == await _listed(settings)
    assert ahead[0]["inputSchema"]["properties"]["wait_seconds"]["default"] == 7


async def test_a_tool_whose_signature_differs_from_its_entry_is_declared_by_the_sdk() -> None:
    mcp: MCPServer[Any] = declare.DeclaredServer("t")

    @declare.tool(mcp)
    async def list_styles(word: str) -> str:
        """Not the catalog's list_styles."""
        return word

    async with Client(mcp) as client:
        (tool,) = (await client.list_tools()).tools
        assert list(tool.input_schema["properties"]) == ["word"]
        assert (await client.call_tool("list_styles", {"word": "hi"})).content[0].text == "hi"  # type: ignore[union-attr]


async def test_a_declared_tool_still_validates_its_arguments() -> None:
    async with Client(build_server(Settings(store="memory"))) as client:
        result = await client.call_tool("list_tasks", {"limit": 0})
    assert result.is_error
    assert "limit" in result.content[0].text  # type: ignore[union-attr]
