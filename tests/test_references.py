"""Reference images (upload_image, describe_image, imageAssetId1..3), the frames_prompt prompt with its
completions, and the frames://tasks/{taskId} resource: through real MCP clients, against the simulator."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mcp import Client, MCPError
from mcp.types import PromptReference, ResourceTemplateReference
from PIL import Image

from frames_mcp.server.results.schemas import TaskResult, UploadedAsset
from frames_mcp.simulator import Simulator

from .conftest import connect, running_sim, wire

pytestmark = pytest.mark.anyio

ACCOUNT = "demo@frames.local"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """Overrides conftest's: tasks finish at once."""
    with running_sim(queue_seconds=0, run_seconds=0, image_px=64) as simulator:
        yield simulator


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def _text(r: Any) -> str:
    return str(r.content[0].text)


def _uploads(sim: Simulator) -> int:
    return int(sim.counts()["uploads"])


async def _upload(c: Client, **source: str) -> UploadedAsset:
    r = await c.call_tool("upload_image", source)
    assert not r.is_error, _text(r)
    return UploadedAsset.model_validate(r.structured_content)


# ---- upload_image ---------------------------------------------------------------------------------


async def test_upload_from_a_local_path(client: Client, sim: Simulator, tmp_path: Path) -> None:
    image = tmp_path / "red fox.png"
    image.write_bytes(_png())
    asset = await _upload(client, path=str(image))
    assert asset.assetId.startswith("user:1-runwayml:demo@frames.local-asset:")
    assert (asset.mimeType, asset.width, asset.height, asset.name) == ("image/png", 40, 30, "red fox")
    assert _uploads(sim) == 1


@pytest.mark.parametrize("as_data_url", [False, True])
async def test_upload_from_base64(client: Client, as_data_url: bool) -> None:
    encoded = base64.b64encode(_png()).decode()
    asset = await _upload(client, data=f"data:image/png;base64,{encoded}" if as_data_url else encoded)
    assert asset.mimeType == "image/png" and asset.bytes == len(_png())


async def test_upload_recognises_the_type_from_the_bytes_not_the_name(client: Client, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"  # really a JPEG
    Image.new("RGB", (20, 20), (0, 90, 200)).save(image, "JPEG")
    assert (await _upload(client, path=str(image))).mimeType == "image/jpeg"


async def test_upload_from_a_url_when_private_addresses_are_allowed(sim: Simulator, mode: str) -> None:
    # The simulator is on loopback, which the configuration has to allow explicitly.
    async with connect(sim, mode, allow_private_urls=True) as c:
        first = await _upload(c, data=base64.b64encode(_png()).decode())
        assert first.url is not None
        second = await _upload(c, url=first.url)
    assert second.assetId != first.assetId and second.bytes == first.bytes
    assert second.name == "original"


async def test_upload_refuses_loopback_urls_by_default(client: Client, sim: Simulator) -> None:
    url = f"{sim.base_url}/artifacts/x/original.png"  # type: ignore[attr-defined]
    r = await client.call_tool("upload_image", {"url": url})
    assert r.is_error
    assert "FRAMES_MCP_ALLOW_PRIVATE_URLS" in _text(r) and "Nothing was uploaded" in _text(r)
    assert not any(path.startswith("/artifacts/") for _, path, _ in sim.request_log)  # never fetched
    assert _uploads(sim) == 0


@pytest.mark.parametrize(
    "url", ["http://localhost:1/x.png", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd"]
)
async def test_upload_refuses_urls_into_this_machine_or_its_network(client: Client, url: str) -> None:
    r = await client.call_tool("upload_image", {"url": url})
    assert r.is_error and "Nothing was uploaded" in _text(r)


async def test_upload_reads_nothing_from_a_file_that_is_not_an_image(
    client: Client, sim: Simulator, tmp_path: Path
) -> None:
    secret = tmp_path / "notes.png"  # an image's name, a text's bytes
    secret.write_text("password=hunter2\n" * 100)
    r = await client.call_tool("upload_image", {"path": str(secret)})
    assert r.is_error and "not an image" in _text(r)
    assert "hunter2" not in _text(r) and _uploads(sim) == 0


@pytest.mark.parametrize("kind", ["directory", "relative", "missing", "unknown user"])
async def test_upload_refuses_paths_that_are_not_image_files(
    client: Client, sim: Simulator, tmp_path: Path, kind: str
) -> None:
    # "~nobody-here/fox.png" names a home directory that does not exist: Path.expanduser raises, and that must be
    # answered in words like the others, not as an opaque "Error executing tool" (hypothesis found "~0").
    path = {
        "directory": str(tmp_path),
        "relative": "images/fox.png",
        "missing": str(tmp_path / "nope.png"),
        "unknown user": "~nobody-here-4c1f/fox.png",
    }[kind]
    r = await client.call_tool("upload_image", {"path": path})
    assert r.is_error
    expected = {
        "directory": "not a regular file",
        "relative": "absolute path",
        "missing": "No such file",
        "unknown user": "home directory this machine does not have",
    }[kind]
    assert expected in _text(r) and _uploads(sim) == 0


async def test_upload_refuses_an_image_over_the_cap(sim: Simulator, mode: str) -> None:
    async with connect(sim, mode, max_image_mb=0.0001) as c:  # about 100 bytes
        r = await c.call_tool("upload_image", {"data": base64.b64encode(_png((300, 300))).decode()})
    assert r.is_error and "too large" in _text(r) and _uploads(sim) == 0


async def test_upload_takes_exactly_one_source(client: Client) -> None:
    both = await client.call_tool("upload_image", {"path": "/x.png", "data": "AAAA"})
    neither = await client.call_tool("upload_image", {})
    assert both.is_error and "got path and data" in _text(both)
    assert neither.is_error and "exactly one of path" in _text(neither)


# ---- generating with references -------------------------------------------------------------------


async def test_generate_with_an_uploaded_reference_end_to_end(sim: Simulator, mode: str) -> None:
    # USEAPI_EMAIL is set, yet it must not be sent with references: the asset's account runs the task.
    async with connect(sim, mode, email=ACCOUNT) as c:
        asset = await _upload(c, data=base64.b64encode(_png()).decode())
        r = await c.call_tool(
            "generate_frames",
            {"text_prompt": "@IMG_1 as a paper lantern at dusk", "imageAssetId1": asset.assetId, "num_images": 1},
        )
    assert not r.is_error, _text(r)
    result = TaskResult.model_validate(r.structured_content)
    assert result.status == "SUCCEEDED" and len(result.artifacts) == 1
    assert sim.last_create_body is not None
    assert sim.last_create_body["imageAssetId1"] == asset.assetId
    assert "email" not in sim.last_create_body


async def test_a_cited_reference_that_is_missing_is_refused_before_paying(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "@IMG_1 riding a @IMG_2", "imageAssetId1": "a-1"})
    assert r.is_error and "@IMG_2" in _text(r) and "imageAssetId2" in _text(r)
    assert sim.last_create_body is None


async def test_reference_fields_and_the_img_convention_are_explained(client: Client) -> None:
    tools = {t.name: wire(t) for t in (await client.list_tools()).tools}
    props = tools["generate_frames"]["inputSchema"]["properties"]
    for n in (1, 2, 3):
        assert f"@IMG_{n}" in props[f"imageAssetId{n}"]["description"]
    assert "imageAssetId1..3" in tools["upload_image"]["description"]
    # Expired links: get_task says it re-signs them (and every finished result's nextStep says so too; issue 13
    # moved that out of generate_frames' description, which every call pays for).
    assert "expired" in tools["get_task"]["description"]


async def test_reference_tools_declare_their_output_and_side_effects(client: Client) -> None:
    tools = {t.name: wire(t) for t in (await client.list_tools()).tools}
    assert "assetId" in tools["upload_image"]["outputSchema"]["properties"]
    assert "prompt" in tools["describe_image"]["outputSchema"]["properties"]
    assert tools["upload_image"]["annotations"]["readOnlyHint"] is False  # it creates an asset
    assert tools["describe_image"]["annotations"]["readOnlyHint"] is True


# ---- describe_image -------------------------------------------------------------------------------


async def test_describe_turns_an_upload_into_a_starting_prompt(client: Client) -> None:
    asset = await _upload(client, data=base64.b64encode(_png()).decode())
    r = await client.call_tool("describe_image", {"assetId": asset.assetId})
    assert not r.is_error
    prompt = r.structured_content["prompt"]  # type: ignore[index]
    assert prompt.startswith("Subject:") and "Scene:" in prompt and "Style:" in prompt
    assert prompt in _text(r)


async def test_describe_an_unknown_asset_says_so(client: Client) -> None:
    r = await client.call_tool("describe_image", {"assetId": "user:1-runwayml:demo@frames.local-asset:nope"})
    assert r.is_error and "No such asset" in _text(r)


async def test_describe_refuses_an_asset_id_that_could_leave_its_path(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("describe_image", {"assetId": "../accounts"})
    assert r.is_error
    assert not any("describe" in path for _, path, _ in sim.request_log)


# ---- the prompt and its completions ---------------------------------------------------------------


async def test_frames_prompt_is_listed_with_its_arguments(client: Client) -> None:
    (prompt,) = [wire(p) for p in (await client.list_prompts()).prompts if p.name == "frames_prompt"]
    assert [(a["name"], a.get("required", False)) for a in prompt["arguments"]] == [
        ("subject", True),
        ("style", False),
        ("aspect_ratio", False),
    ]


async def test_frames_prompt_guides_subject_scene_lighting_camera_style(client: Client) -> None:
    r = await client.get_prompt("frames_prompt", {"subject": "a lighthouse", "style": "bw", "aspect_ratio": "9:16"})
    text = r.messages[0].content.text  # type: ignore[union-attr]
    assert "a lighthouse" in text
    for part in ("Camera", "Subject", "Scene", "Lighting", "Style"):
        assert part in text
    assert "1000 characters" in text and "positively" in text and "@IMG_1" in text
    assert 'Style preset "bw"' in text and "Aspect ratio 9:16: vertical" in text
    assert 'style="bw", aspect_ratio="9:16"' in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "frames_prompt needs subject"),
        ({"subject": "  "}, "frames_prompt needs a subject"),
        ({"subject": "a fox", "style": "watercolor"}, "Unknown style 'watercolor'"),
        ({"subject": "a fox", "aspect_ratio": "2:1"}, "Unknown aspect_ratio '2:1'"),
    ],
)
async def test_frames_prompt_says_what_is_wrong_with_its_arguments(
    client: Client, arguments: dict[str, str], message: str
) -> None:
    # The SDK's own error for these is an opaque "Internal error"; this one names the problem.
    with pytest.raises(MCPError, match=message):
        await client.get_prompt("frames_prompt", arguments)


async def test_style_and_aspect_ratio_complete(client: Client) -> None:
    ref = PromptReference(name="frames_prompt")
    styles = await client.complete(ref, {"name": "style", "value": "high"})
    ratios = await client.complete(ref, {"name": "aspect_ratio", "value": "9"})
    assert styles.completion.values == ["high-contrast", "high-contrast-warm", "high-contrast-cool"]
    assert ratios.completion.values == ["9:16"]


# ---- frames://tasks/{taskId} ----------------------------------------------------------------------


async def test_task_resource_is_the_task_as_json(client: Client) -> None:
    templates = [wire(t) for t in (await client.list_resource_templates()).resource_templates]
    assert {"uriTemplate": "frames://tasks/{taskId}", "mimeType": "application/json"}.items() <= templates[0].items()
    made = await client.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1, "preview": False})
    task_id = TaskResult.model_validate(made.structured_content).taskId
    for uri in (f"frames://tasks/{task_id}", f"frames://tasks/{quote(task_id, safe='')}"):  # raw or expanded
        read = await client.read_resource(uri)
        result = TaskResult.model_validate_json(read.contents[0].text)  # type: ignore[union-attr]
        assert result.taskId == task_id and result.status == "SUCCEEDED"


async def test_task_id_completes_from_recent_results(client: Client) -> None:
    made = await client.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1, "preview": False})
    task_id = TaskResult.model_validate(made.structured_content).taskId
    done = await client.complete(
        ResourceTemplateReference(uri="frames://tasks/{taskId}"), {"name": "taskId", "value": "user:"}
    )
    assert done.completion.values == [task_id]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("frames://tasks/not-a-task", "is not a taskId"),
        ("frames://tasks/user:1-runwayml:demo@frames.local-task:0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10", "No task"),
    ],
)
async def test_task_resource_errors_are_clear(client: Client, uri: str, message: str) -> None:
    with pytest.raises(MCPError, match=message):
        await client.read_resource(uri)
