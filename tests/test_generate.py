"""generate_frames, get_task and list_styles end to end: real MCP client, simulator over loopback HTTP."""

from __future__ import annotations

import io
import re

import httpx2
import pytest
from mcp import Client
from PIL import Image

from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Simulator
from frames_mcp.useapi.transport import shared_tls

from .conftest import BRISK, BRISK_POLLS, creates, wire

pytestmark = pytest.mark.anyio


SIMULATOR = BRISK  # tasks of 0.1 s: these tests need them finished, not slow (conftest's sim)
POLLS = BRISK_POLLS  # the schedule for such tasks (conftest's client)


async def test_generate_returns_four_images_in_every_form(client: Client, sim: Simulator) -> None:
    r = await client.call_tool(
        "generate_frames", {"text_prompt": "a red fox in fresh snow", "style": "vivid", "seed": 42}
    )
    assert not r.is_error, r.content
    result = TaskResult.model_validate(r.structured_content)
    assert result.status == "SUCCEEDED" and result.done
    assert len(result.artifacts) == 4
    assert result.options["seed"] == 42 and result.options["style"] == "vivid"
    assert result.options["aspect_ratio"] == "16:9"
    # The model reads text: every URL is there as a markdown link, with the taskId.
    text = r.content[0].text  # type: ignore[union-attr]
    assert result.taskId in text
    for a in result.artifacts:
        assert f"]({a.url})" in text
    # Clients that show the model the structured content read the URLs there, once each: no resource_link
    # repeats them (Claude Code turns each into one more text line). Issue 13 dropped the per-image links.
    assert [c for c in r.content if c.type == "resource_link"] == []
    assert [a["url"] for a in (r.structured_content or {})["artifacts"]] == [a.url for a in result.artifacts]
    # The URLs are real images.
    async with httpx2.AsyncClient(verify=shared_tls()) as http:
        response = await http.get(result.artifacts[0].url)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).format == "PNG"
    assert creates(sim) == 1


async def test_one_image_when_asked(client: Client) -> None:
    r = await client.call_tool(
        "generate_frames", {"text_prompt": "a lighthouse", "num_images": 1, "aspect_ratio": "9:16"}
    )
    result = TaskResult.model_validate(r.structured_content)
    assert len(result.artifacts) == 1
    assert result.options["aspect_ratio"] == "9:16"


async def test_num_images_is_always_sent(client: Client, sim: Simulator) -> None:
    # The docs disagree on the default (1 or 4), so the server never leaves it to useapi.
    await client.call_tool("generate_frames", {"text_prompt": "a lighthouse", "wait_seconds": 0})
    body = sim.last_create_body
    assert body["num_images"] == 4
    assert body["text_prompt"] == "a lighthouse"


async def test_budget_expiry_returns_the_task_id_not_an_error(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a slow harbour", "wait_seconds": 0})
    # Not an error: the task was created and keeps running; the result tells the model how to pick it up.
    assert not r.is_error
    result = TaskResult.model_validate(r.structured_content)
    assert not result.done
    assert result.status in {"PENDING", "RUNNING"}
    assert result.nextStep is not None and "get_task" in result.nextStep
    assert result.taskId in r.content[0].text  # type: ignore[union-attr]

    again = await client.call_tool("get_task", {"taskId": result.taskId, "wait_seconds": 10})
    done = TaskResult.model_validate(again.structured_content)
    assert done.status == "SUCCEEDED" and len(done.artifacts) == 4
    assert creates(sim) == 1


async def test_get_task_resigns_urls(client: Client) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a quiet forest", "num_images": 1})
    first = TaskResult.model_validate(r.structured_content)
    again = TaskResult.model_validate((await client.call_tool("get_task", {"taskId": first.taskId})).structured_content)
    # Same image, fresh signature: what the model needs when a link has expired.
    assert again.artifacts[0].url.split("?")[0] == first.artifacts[0].url.split("?")[0]
    assert again.artifacts[0].url != first.artifacts[0].url


async def test_list_styles_lists_the_nineteen_styles(client: Client) -> None:
    r = await client.call_tool("list_styles", {})
    assert not r.is_error
    data = r.structured_content
    assert data is not None
    assert [s["name"] for s in data["styles"]][:3] == ["vivid", "vivid-warm", "vivid-cool"]
    assert len(data["styles"]) == 19
    assert [a["ratio"] for a in data["aspect_ratios"]] == ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"]
    assert data["diversity"] == {"minimum": 0, "maximum": 5, "default": 2}
    assert data["seed"]["maximum"] == 4294967294
    assert "terracotta" in r.content[0].text  # type: ignore[union-attr]


async def test_styles_resource_matches_the_tool(client: Client) -> None:
    resources = [wire(r) for r in (await client.list_resources()).resources]
    assert any(r["uri"] == "frames://styles" and r["mimeType"] == "application/json" for r in resources)
    read = await client.read_resource("frames://styles")
    assert '"terracotta"' in read.contents[0].text  # type: ignore[union-attr]


async def test_progress_notifications_rise_to_done(client: Client) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    r = await client.call_tool("generate_frames", {"text_prompt": "a kite"}, progress_callback=on_progress)
    assert not r.is_error
    values = [p for p, _, _ in seen]
    assert len(values) >= 2
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly rising, as the spec requires
    assert values[-1] == 1.0
    assert all(total == 1.0 for _, total, _ in seen)
    assert re.search(r"SUCCEEDED", seen[-1][2] or "")
