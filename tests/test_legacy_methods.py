"""logging/setLevel and completion/complete: 2025-era clients call them without checking capabilities.

A server that answers "Method not found" breaks such clients (and fails the conformance suite's generic
scenarios), so frames-mcp answers both.
"""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.types import PromptReference

from frames_mcp.config import Settings
from frames_mcp.server.app import build_server
from frames_mcp.useapi.models import STYLES

pytestmark = pytest.mark.anyio


async def test_set_logging_level_is_acknowledged() -> None:
    async with Client(build_server(Settings()), mode="legacy") as c:
        assert c.server_capabilities is not None
        assert c.server_capabilities.logging is not None
        await c.set_logging_level("info")  # an empty result, no error


async def test_completion_offers_the_styles_that_match() -> None:
    async with Client(build_server(Settings()), mode="legacy") as c:
        result = await c.complete(PromptReference(name="frames_prompt"), {"name": "style", "value": "vivid"})
    assert result.completion.values == [s for s in STYLES if s.startswith("vivid")]


async def test_completion_of_another_argument_is_empty() -> None:
    # An empty list, not an error: the conformance suite completes its own fixture prompt's `arg1`.
    async with Client(build_server(Settings()), mode="legacy") as c:
        result = await c.complete(PromptReference(name="test_prompt_with_arguments"), {"name": "arg1", "value": "x"})
    assert result.completion.values == []
