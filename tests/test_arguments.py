"""Bad arguments, for every tool, answered in the server's words (property-based, through a real client).

Hypothesis draws each tool's arguments from its published input schema, mixed with junk of every JSON type
(empty strings, out-of-range numbers, wrong types, raw-regex bait). Whatever it draws:
- no result is the SDK's opaque "Error executing tool ..." or carries pydantic's wording;
- a refused argument is named, with what is allowed; a refused taskId also gets its documented form and
  where to find one (list_tasks);
- no result lacks the taskId once a task was created (the simulator's own task list is the judge).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx2
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from PIL import Image

from frames_mcp.server.app import build_server
from frames_mcp.simulator import Simulator

from .conftest import FAST_TUNING, running_sim, settings_for, text_of

PYDANTIC_WORDING = ("validation error for", "errors.pydantic.dev", "input_value=", "[type=", "should match pattern")
TASK_ID_FORM = "user:<digits>-runwayml:<email>-task:<uuid>"


def _png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


@dataclass
class Harness:
    portal: anyio.from_thread.BlockingPortal
    client: Client
    sim: Simulator
    schemas: dict[str, dict[str, Any]]
    task_id: str  # a finished task of the simulated account
    asset_id: str
    http: httpx2.Client  # to the simulator, kept open (a new client per look costs 50 ms: the TLS trust store)

    def call(self, tool: str, args: dict[str, Any]) -> Any:
        return self.portal.call(self.client.call_tool, tool, args)

    def account_tasks(self) -> set[str]:
        r = self.http.get("/v1/runwayml/tasks/", params={"limit": 1000})
        return {t["taskId"] for t in r.json()}


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    with running_sim(queue_seconds=0.05, run_seconds=0.15, image_px=16) as sim:
        server = build_server(settings_for(sim, wait_seconds=1, preview=False), FAST_TUNING)
        headers = {"Authorization": f"Bearer {sim.config.token}"}
        with (
            httpx2.Client(base_url=sim.base_url, headers=headers) as http,  # type: ignore[attr-defined]
            anyio.from_thread.start_blocking_portal() as portal,
        ):
            client = portal.wrap_async_context_manager(Client(server, mode="auto"))  # type: ignore[arg-type]
            with client as c:
                tools = portal.call(c.list_tools).tools
                first = portal.call(c.call_tool, "generate_frames", {"text_prompt": "a heron", "num_images": 1})
                done = first.structured_content or {}
                h = Harness(portal, c, sim, {t.name: t.input_schema for t in tools}, done["taskId"], "", http)
                h.asset_id = done["artifacts"][0]["assetId"]
                yield h


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["", " ", "nope", "../accounts", "user:1-runwayml:x@y.z-task:not-a-uuid", "%2F", "\x00", "ℵ" * 3]),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=1),
)


def _valid(name: str, prop: dict[str, Any], h: Harness) -> st.SearchStrategy[Any]:
    """Values the schema allows (kept cheap: short waits, real ids of the simulated account)."""
    if name == "taskId":
        return st.just(h.task_id)
    if name == "assetId" or name.startswith("imageAssetId"):
        return st.just(h.asset_id)
    if name == "wait_seconds":
        return st.integers(0, 1)
    if name == "data":
        return st.just(_png())
    if name == "email":
        return st.just(h.sim.config.accounts and next(iter(h.sim.config.accounts)))
    kinds = prop.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if "integer" in kinds:
        return st.integers(prop.get("minimum", -5), prop.get("maximum", 10**10))
    if "boolean" in kinds:
        return st.booleans()
    if "string" in kinds:
        return st.text(min_size=prop.get("minLength", 0), max_size=min(prop.get("maxLength", 40), 40))
    return st.none()


def arguments(tool: str, h: Harness) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = h.schemas[tool].get("properties", {})
    optional = {name: st.one_of(_valid(name, prop, h), JUNK) for name, prop in props.items()}
    if tool == "generate_frames":
        optional["preview"] = st.just(False)
    return st.fixed_dictionaries({}, optional=optional)


def refused_names(schema: dict[str, Any], args: dict[str, Any]) -> set[str]:
    """The arguments the published schema refuses (a missing required one counts as refused)."""
    names: set[str] = set()
    for error in jsonschema.Draft202012Validator(schema).iter_errors(args):
        if error.path:
            names.add(str(error.path[0]))
        elif error.validator == "required":
            names |= {n for n in schema.get("required", []) if n not in args}
    return names


def check(h: Harness, tool: str, args: dict[str, Any]) -> None:
    before = h.account_tasks()
    r = h.call(tool, args)
    text = text_of(r)
    assert text.strip() != f"Error executing tool {tool}", "an opaque crash"
    assert not any(w in text for w in PYDANTIC_WORDING), text
    assert "[0-9a-fA-F]" not in text and "^user:" not in text, "the raw regex"
    for created in h.account_tasks() - before:
        assert created in text, f"task {created} was created but its result does not name it:\n{text}"
    # An argument refusal names the arguments it refuses, each one of the call's own (or a required one left
    # out), one per line. Which ones it refuses is the server's validation: the published schema is lean (no null
    # branches, some patterns checked only by the server) and the server reads some values the schema refuses as
    # what they plainly mean (0 as false), so the schema is the oracle only for a taskId, whose form it carries.
    if "not what it accepts" in text:
        named = set(re.findall(r"^- `([^`]+)`", text, re.MULTILINE))
        assert named and named <= set(args) | set(h.schemas[tool].get("required", [])), text
        if "taskId" in refused_names(h.schemas[tool], {k: v for k, v in args.items() if v is not None}):
            assert TASK_ID_FORM in text and "list_tasks" in text, text


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
TOOL_NAMES = ["generate_frames", "get_task", "list_tasks", "list_styles", "upload_image", "describe_image"]


@pytest.mark.parametrize("tool", TOOL_NAMES)
def test_every_argument_is_answered_in_our_words(harness: Harness, tool: str) -> None:
    # One property per tool, so a failure names the tool; hypothesis shrinks it to the smallest bad call.
    @SETTINGS
    @given(args=arguments(tool, harness))
    def run(args: dict[str, Any]) -> None:
        check(harness, tool, args)

    run()


@pytest.mark.parametrize(
    ("tool", "args", "named"),
    [
        ("generate_frames", {"text_prompt": ""}, "text_prompt"),
        ("generate_frames", {"text_prompt": "a cat", "style": "neon"}, "style"),
        ("generate_frames", {"text_prompt": "a cat", "seed": 0}, "seed"),
        ("get_task", {"taskId": "nope"}, "taskId"),
        ("list_tasks", {"limit": 1000}, "limit"),
        ("describe_image", {"assetId": "a/b"}, "assetId"),
    ],
)
def test_the_examples_from_the_issue_say_what_is_allowed(harness: Harness, tool: str, args: Any, named: str) -> None:
    # The exact calls that once printed pydantic's error or the raw regex: which argument, what is allowed.
    r = harness.call(tool, args)
    text = text_of(r)
    assert r.is_error and named in text
    assert not any(w in text for w in PYDANTIC_WORDING) and not re.search(r"\[type=|\^user:", text), text
    check(harness, tool, args)
