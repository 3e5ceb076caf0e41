"""The tool schemas as a client sees them on the wire: every documented constraint is in the JSON schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

from frames_mcp.server import declare
from frames_mcp.simulator import Simulator
from frames_mcp.useapi.models import STYLES

from .conftest import connect, text_of, wire

pytestmark = pytest.mark.anyio

# The constraints the useapi docs give for POST frames/create, in the docs' own parameter names.
# Published lean (issue 13): an optional parameter is its plain type (leaving it out means none), no titles.
GENERATE_PROPERTIES: dict[str, dict[str, Any]] = {
    "text_prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
    "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"], "default": "16:9"},
    "style": {"type": "string", "enum": list(STYLES)},
    "diversity": {"type": "integer", "minimum": 0, "maximum": 5, "default": 2},
    "seed": {"type": "integer", "minimum": 1, "maximum": 4294967294},
    "num_images": {"type": "integer", "enum": [1, 4], "default": 4},
    "exploreMode": {"type": "boolean", "default": False},
    "replyUrl": {"type": "string", "maxLength": 1024, "pattern": "^https?://\\S+$"},
    "replyRef": {"type": "string", "maxLength": 1024},
    "maxJobs": {"type": "integer", "minimum": 1, "maximum": 10},
    "email": {"type": "string", "maxLength": 254},
    "imageAssetId1": {"type": "string", "maxLength": 400},
    "imageAssetId2": {"type": "string", "maxLength": 400},
    "imageAssetId3": {"type": "string", "maxLength": 400},
    "wait_seconds": {"type": "integer", "minimum": 0, "maximum": 50, "default": 10},
    "preview": {"type": "boolean", "default": True},
    "save": {"type": "boolean", "default": False},
}


def _subset(expected: Any, actual: Any) -> bool:
    """True when every key of `expected` is in `actual` with an equal (recursively subset) value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(_subset, expected, actual))
    return bool(expected == actual)


async def _tools(client: Client) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (wire(t) for t in (await client.list_tools()).tools)}


async def test_tool_names(client: Client) -> None:
    assert sorted(await _tools(client)) == [
        "describe_image",
        "generate_frames",
        "get_task",
        "list_styles",
        "list_tasks",
        "upload_image",
    ]


async def test_generate_frames_schema_carries_every_documented_constraint(client: Client) -> None:
    schema = (await _tools(client))["generate_frames"]["inputSchema"]
    # Exactly these parameters, in this order, with only the prompt required.
    assert list(schema["properties"]) == list(GENERATE_PROPERTIES)
    assert schema["required"] == ["text_prompt"]
    for name, expected in GENERATE_PROPERTIES.items():
        assert _subset(expected, schema["properties"][name]), (name, schema["properties"][name])
    # No $defs: the context parameter and models must not leak into what the model sees.
    assert "$defs" not in schema


async def test_input_schemas_carry_no_generated_noise(client: Client) -> None:
    # Every call pays for the tool list: no pydantic titles, no anyOf-null wrappers, no "default": null.
    for name, tool in (await _tools(client)).items():
        text = json.dumps(tool["inputSchema"])
        assert '"title"' not in text and "anyOf" not in text and '"default": null' not in text, name


async def test_an_explicit_null_and_a_bad_asset_id_are_still_judged_by_the_server(client: Client) -> None:
    # The published schema leaves null and the assetId pattern out; the server still accepts the one and
    # refuses the other before anything is created.
    bad = await client.call_tool("generate_frames", {"text_prompt": "a kite", "imageAssetId1": "../../x"})
    assert bad.is_error and "assetId" in bad.content[0].text  # type: ignore[union-attr]
    ok = await client.call_tool("generate_frames", {"text_prompt": "a kite", "seed": None, "wait_seconds": 0})
    assert not ok.is_error, ok.content


async def test_generate_frames_descriptions_quote_the_docs(client: Client) -> None:
    props = (await _tools(client))["generate_frames"]["inputSchema"]["properties"]
    assert "Maximum length 1000 characters" in props["text_prompt"]["description"]
    assert "Aesthetic Range" in props["diversity"]["description"]
    assert "Explore mode" in props["exploreMode"]["description"]
    assert "get_task" in props["wait_seconds"]["description"]
    assert all(p.get("description") for p in props.values())


async def test_get_task_schema_checks_the_task_id_form(client: Client) -> None:
    schema = (await _tools(client))["get_task"]["inputSchema"]
    assert schema["required"] == ["taskId"]
    task_id = schema["properties"]["taskId"]
    assert task_id["type"] == "string"
    assert task_id["pattern"].startswith("^user:[0-9]+-runwayml:")
    assert task_id["pattern"].endswith("$")
    assert _subset({"type": "integer", "minimum": 0, "maximum": 50, "default": 0}, schema["properties"]["wait_seconds"])


async def test_annotations_tell_clients_what_spends_money(client: Client) -> None:
    tools = await _tools(client)
    assert tools["generate_frames"]["annotations"] == {
        "readOnlyHint": False,
        "destructiveHint": False,
        "idempotentHint": False,
        "openWorldHint": True,
    }
    assert tools["get_task"]["annotations"]["readOnlyHint"] is True
    assert tools["list_styles"]["annotations"]["readOnlyHint"] is True


async def test_results_declare_an_output_schema(client: Client) -> None:
    tools = await _tools(client)
    for name in ("generate_frames", "get_task"):
        out = tools[name]["outputSchema"]
        assert {"taskId", "status", "progress", "artifacts", "options", "error"} <= set(out["properties"]), name
        artifact = out["properties"]["artifacts"]["items"]["properties"]
        assert {"url", "assetId", "width", "height"} <= set(artifact)
    assert {"styles", "aspect_ratios", "diversity", "seed"} <= set(tools["list_styles"]["outputSchema"]["properties"])


async def test_result_schemas_are_self_contained_and_cheap_to_check(client: Client) -> None:
    # Clients validate every result against the output schema (the Python SDK does, with jsonschema): no $ref
    # to resolve and no null branch per optional field (results leave null fields out) make that cheaper, with
    # the same constraints (bench/schema_validation.py), and portable: no type arrays for Inspector --strict.
    tools = await _tools(client)
    for name in ("generate_frames", "get_task", "list_tasks"):
        text = json.dumps(tools[name]["outputSchema"])
        assert "$ref" not in text and "$defs" not in text and "anyOf" not in text, name
    progress = tools["get_task"]["outputSchema"]["properties"]["progress"]
    assert progress["type"] == "number" and (progress["minimum"], progress["maximum"]) == (0, 1)
    for name in ("generate_frames", "get_task", "list_tasks"):
        assert '"null"' not in json.dumps(tools[name]["outputSchema"]), name


async def test_server_explains_the_flow(client: Client) -> None:
    # Instructions reach the model at initialize: the create-then-get_task flow and "never pay twice".
    assert client.instructions is not None
    assert "get_task" in client.instructions
    assert "pays for a second task" in client.instructions


async def test_servers_of_one_process_each_declare_their_own_settings(sim: Simulator, mode: str) -> None:
    # Tool declarations are made ahead of time and reused (declare.DeclaredServer): a setting that shapes a schema,
    # here the default wait, must still reach each server's tools/list.
    async with connect(sim, mode, wait_seconds=10) as ten, connect(sim, mode, wait_seconds=30) as thirty:
        waits = [
            (await _tools(c))["generate_frames"]["inputSchema"]["properties"]["wait_seconds"] for c in (ten, thirty)
        ]
    assert [w["default"] for w in waits] == [10, 30]


async def test_a_reused_declaration_calls_the_function_of_its_own_server() -> None:
    # Two servers declare a tool of the same name, description and signature whose bodies differ (as closures
    # over each server's settings do): each server runs its own.
    def server(answer: str) -> MCPServer[Any]:
        mcp: MCPServer[Any] = declare.DeclaredServer("t")

        @declare.tool(mcp)
        async def echo(word: str) -> str:
            """Says which server answered."""
            return f"{answer}: {word}"

        return mcp

    async with Client(server("first")) as first, Client(server("second")) as second:
        said = [text_of(await c.call_tool("echo", {"word": "hi"})) for c in (first, second)]
    assert said == ["first: hi", "second: hi"]
