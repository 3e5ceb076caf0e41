"""Finished results: the contact sheet, saved files, the result-size cap, and every way a path could escape.

Tasks here finish the moment they are created (queue and run times of 0), so each call is quick; the
images are 256 px, big enough for the sheet's arithmetic to matter.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from mcp import Client
from mcp.types import CallToolResult
from PIL import Image

from frames_mcp.media.saving import SAFE_NAME, file_stem
from frames_mcp.server.results.schemas import TaskResult
from frames_mcp.simulator import Fault, Simulator

from ._tools import clean_env, stdio_server
from .conftest import connect, console_script, running_sim, wire

pytestmark = pytest.mark.anyio

UUID = "0f8e3c1a-7b2d-4c59-9a1e-2f6b8d4c7e10"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """Overrides conftest's: tasks finish at once, images are 256 px."""
    with running_sim(queue_seconds=0, run_seconds=0, image_px=256) as simulator:
        yield simulator


def _images(r: CallToolResult) -> list[bytes]:
    return [base64.b64decode(c.data) for c in r.content if c.type == "image"]


def _downloads(sim: Simulator, suffix: str) -> int:
    return sum(1 for method, path, status in sim.request_log if method == "GET" and path.endswith(suffix))


def _on_disk(directory: Path) -> dict[str, int]:
    """Every file under `directory`, by name, with its size."""
    return {p.name: p.stat().st_size for p in directory.rglob("*") if p.is_file()}


def _size(r: CallToolResult) -> int:
    return len(json.dumps(wire(r)))


async def test_finished_result_carries_one_contact_sheet_within_the_caps(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a red fox in fresh snow"})
    assert not r.is_error
    sheets = _images(r)
    assert len(sheets) == 1
    # After the text, so clients that drop images still lead with the links.
    assert [c.type for c in r.content[:2]] == ["text", "image"]
    assert wire(r.content[1])["mimeType"] == "image/jpeg"
    image = Image.open(io.BytesIO(sheets[0]))
    assert image.format == "JPEG"
    assert max(image.size) <= 768 and len(sheets[0]) <= 150_000
    result = TaskResult.model_validate(r.structured_content)
    assert result.preview is not None and result.preview.included
    assert (result.preview.width, result.preview.height) == image.size
    assert result.preview.images == [0, 1, 2, 3]
    # Built from the small previews: no full-size image was downloaded for it.
    assert _downloads(sim, "_preview.jpg") == 4 and _downloads(sim, ".png") == 0
    # The base64 stays out of the structured content (clients copy that into the model's context).
    assert r.content[1].data[:100] not in json.dumps(r.structured_content)  # type: ignore[union-attr]


async def test_preview_can_be_turned_off_per_call(client: Client, sim: Simulator) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a kite", "preview": False})
    assert _images(r) == []
    assert "preview" not in (r.structured_content or {})  # an empty field is left out
    assert _downloads(sim, ".jpg") == 0


async def test_preview_default_comes_from_configuration(sim: Simulator, mode: str) -> None:
    async with connect(sim, mode, preview=False) as c:
        quiet = await c.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1})
        task_id = TaskResult.model_validate(quiet.structured_content).taskId
        asked = await c.call_tool("get_task", {"taskId": task_id, "preview": True})
    assert _images(quiet) == [] and len(_images(asked)) == 1


async def test_one_missing_preview_leaves_a_placeholder_and_a_note(client: Client, sim: Simulator) -> None:
    sim.inject(Fault(kind="status", method="GET", path="/1_preview.jpg", status=403))
    r = await client.call_tool("generate_frames", {"text_prompt": "a lighthouse"})
    assert not r.is_error and len(_images(r)) == 1
    notes = TaskResult.model_validate(r.structured_content).notes
    assert notes == ["Image 2 is missing from the contact sheet: The server answered HTTP 403."]


async def test_no_preview_at_all_still_gives_a_valid_result(client: Client, sim: Simulator) -> None:
    sim.inject(Fault(kind="status", method="GET", path="_preview.jpg", status=503, times=0))
    r = await client.call_tool("generate_frames", {"text_prompt": "a lighthouse"})
    assert not r.is_error and _images(r) == []
    result = TaskResult.model_validate(r.structured_content)
    assert result.preview is None and len(result.artifacts) == 4
    assert any("No contact sheet could be made" in n for n in result.notes)


async def test_result_stays_under_900_kb_whatever_upstream_sends(client: Client, sim: Simulator) -> None:
    first = TaskResult.model_validate(
        (
            await client.call_tool("generate_frames", {"text_prompt": "a lighthouse", "preview": False})
        ).structured_content
    )
    # Upstream answers the next read with 116 images whose URLs are 4 KB long (valid, padded links): under the
    # client's 512 KB cap on a task answer, yet each URL is shown twice in the result (text and structured content).
    pad = "&pad=" + "x" * 4000
    artifacts = [{"url": a.url + pad, "assetId": a.assetId} for a in first.artifacts * 29]
    body = {"taskId": first.taskId, "status": "SUCCEEDED", "artifacts": artifacts}
    assert 450_000 < len(json.dumps(body)) < 512 * 1024
    sim.inject(Fault(kind="status", method="GET", path="/tasks/", status=200, body=body))
    r = await client.call_tool("get_task", {"taskId": first.taskId})
    assert _size(r) <= 900_000
    result = TaskResult.model_validate(r.structured_content)  # still the declared shape
    assert result.taskId == first.taskId and 0 < len(result.artifacts) <= len(artifacts)
    assert any("under the size limit" in n for n in result.notes)


async def test_save_writes_every_image_under_a_safe_deterministic_name(
    sim: Simulator, mode: str, tmp_path: Path
) -> None:
    out = tmp_path / "images"  # does not exist yet: created on first save
    async with connect(sim, mode, output_dir=out) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat"})
        result = TaskResult.model_validate(r.structured_content)
        again = await c.call_tool("get_task", {"taskId": result.taskId})
    uuid = result.taskId[-36:]
    assert [Path(f.path).name for f in result.files] == [
        f"frames-{result.createdAt[:10].replace('-', '')}-{uuid}-{n}.png"  # type: ignore[index]
        for n in (1, 2, 3, 4)
    ]
    for f in result.files:
        path = Path(f.path)
        assert path.parent == out.resolve() and SAFE_NAME.fullmatch(path.name)
        assert Image.open(path).format == "PNG" and _on_disk(out)[path.name] == f.bytes
        assert f.uri == path.as_uri()
        assert f.path in r.content[0].text  # type: ignore[union-attr]
    links = [wire(c)["uri"] for c in r.content if c.type == "resource_link"]
    assert [f.uri for f in result.files] == [u for u in links if u.startswith("file://")]
    assert sorted(_on_disk(out)) == sorted(Path(f.path).name for f in result.files)  # no temp files left
    # Reading the task again names the same files and does not download them again.
    assert TaskResult.model_validate(again.structured_content).files == result.files
    assert _downloads(sim, ".png") == 4


async def test_save_can_be_turned_off_per_call(sim: Simulator, mode: str, tmp_path: Path) -> None:
    async with connect(sim, mode, output_dir=tmp_path) as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "save": False})
    assert "files" not in (r.structured_content or {})  # an empty field is left out
    assert _on_disk(tmp_path) == {}


async def test_save_without_an_output_dir_says_how_to_set_one(client: Client) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a paper boat", "save": True})
    assert not r.is_error
    assert any("FRAMES_MCP_OUTPUT_DIR" in n for n in r.structured_content["notes"])  # type: ignore[index]


async def test_oversize_download_is_refused_and_leaves_nothing(sim: Simulator, mode: str, tmp_path: Path) -> None:
    async with connect(sim, mode, output_dir=tmp_path, max_image_mb=0.001) as c:  # a 1 KB cap
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "num_images": 1})
    result = TaskResult.model_validate(r.structured_content)
    assert not r.is_error and result.files == []
    assert len(result.notes) == 1 and result.notes[0].startswith("Image 1 was not saved: Too large")
    assert _on_disk(tmp_path) == {}


async def test_non_image_download_is_refused(sim: Simulator, mode: str, tmp_path: Path) -> None:
    # A CDN error page answered with 200: neither saved nor drawn on the sheet.
    html = "<html><body>Access denied</body></html>"
    async with connect(sim, mode, output_dir=tmp_path) as c:
        sim.inject(Fault(kind="status", method="GET", path="/artifacts/", status=200, body=html, times=0))
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat", "num_images": 1})
    result = TaskResult.model_validate(r.structured_content)
    assert result.files == [] and _images(r) == []
    assert "Image 1 was not saved: Not an image: the server sent text/plain." in result.notes
    assert _on_disk(tmp_path) == {}


async def test_upstream_values_cannot_place_a_file_outside_the_directory(
    client: Client, sim: Simulator, mode: str, tmp_path: Path
) -> None:
    first = TaskResult.model_validate(
        (await client.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1})).structured_content
    )
    a = first.artifacts[0]
    # Upstream returns a hostile task: traversal in the taskId, the date and the artifact URL's path.
    body = {
        "taskId": first.taskId,
        "createdAt": "../../../etc/2026-07-28",
        "status": "SUCCEEDED",
        "artifacts": [
            {"url": a.url.replace("/artifacts/", "/artifacts/../../../../tmp/"), "previewUrls": []},
            {"url": a.url, "previewUrls": []},
        ],
    }
    body["taskId"] = "../../../../tmp/evil/" + first.taskId
    out = tmp_path / "out"
    async with connect(sim, mode, output_dir=out) as c:
        sim.inject(Fault(kind="status", method="GET", path="/tasks/", status=200, body=body))
        r = await c.call_tool("get_task", {"taskId": first.taskId})
    result = TaskResult.model_validate(r.structured_content)
    assert result.files, result.notes
    for f in result.files:
        assert Path(f.path).parent == out.resolve() and SAFE_NAME.fullmatch(Path(f.path).name)
    assert sorted(_on_disk(tmp_path)) == sorted(Path(f.path).name for f in result.files)


@pytest.mark.parametrize(
    "task_id",
    [
        "../../etc/passwd",
        "/absolute/path",
        "a\x00b",
        "..\\..\\windows",
        f"user:1-runwayml:x@y.z-task:../../{UUID}",
        "",
    ],
)
@pytest.mark.parametrize("created_at", [None, "2026-07-28T01:02:03.456Z", "../..", "2026-07-28T00:00:00\x00/x"])
def test_file_names_are_one_safe_component_whatever_the_task_says(task_id: str, created_at: str | None) -> None:
    name = file_stem(task_id, created_at, 0) + ".png"
    assert SAFE_NAME.fullmatch(name) and "/" not in name and ".." not in name


async def test_a_planted_symlink_is_replaced_not_followed(
    client: Client, sim: Simulator, mode: str, tmp_path: Path
) -> None:
    r = await client.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1, "preview": False})
    result = TaskResult.model_validate(r.structured_content)
    out, outside = tmp_path / "out", tmp_path / "outside.png"
    out.mkdir()
    outside.write_bytes(b"keep me")
    planted = out / (file_stem(result.taskId, result.createdAt, 0) + ".png")
    planted.symlink_to(outside)
    async with connect(sim, mode, output_dir=out) as c:
        saved = TaskResult.model_validate((await c.call_tool("get_task", {"taskId": result.taskId})).structured_content)
    assert outside.read_bytes() == b"keep me"
    assert [f.path for f in saved.files] == [str(planted.resolve())]
    assert not planted.is_symlink() and Image.open(planted).format == "PNG"


async def test_a_symlinked_output_dir_is_used_where_it_points(sim: Simulator, mode: str, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    async with connect(sim, mode, output_dir=tmp_path / "link") as c:
        r = await c.call_tool("generate_frames", {"text_prompt": "a kite", "num_images": 1, "preview": False})
    (saved,) = TaskResult.model_validate(r.structured_content).files
    assert Path(saved.path).parent == real


async def test_a_stdio_client_gets_links_schema_valid_content_a_sheet_and_files(sim: Simulator, tmp_path: Path) -> None:
    # The installed server as a client config would run it, configured only through its environment.
    env = clean_env(
        USEAPI_TOKEN=sim.config.token,
        USEAPI_BASE_URL=sim.base_url,  # type: ignore[attr-defined]
        FRAMES_MCP_OUTPUT_DIR=str(tmp_path),
    )
    async with Client(stdio_server(env)) as c:
        schema = next(t for t in (await c.list_tools()).tools if t.name == "generate_frames").output_schema
        r = await c.call_tool("generate_frames", {"text_prompt": "a paper boat"})
    assert schema is not None
    jsonschema.validate(r.structured_content, schema)
    result = TaskResult.model_validate(r.structured_content)
    assert all(f"]({a.url})" in r.content[0].text for a in result.artifacts)  # type: ignore[union-attr]
    uris = [wire(c)["uri"] for c in r.content if c.type == "resource_link"]
    assert uris == [f.uri for f in result.files]  # a link per saved file; image URLs are in text and structure
    (sheet,) = _images(r)
    assert len(sheet) <= 150_000 and max(Image.open(io.BytesIO(sheet)).size) <= 768
    assert sorted(_on_disk(tmp_path)) == sorted(Path(f.path).name for f in result.files)
    assert all(SAFE_NAME.fullmatch(name) for name in _on_disk(tmp_path)) and len(result.files) == 4


def test_relative_output_dir_is_refused_at_start() -> None:
    proc = subprocess.run(
        [console_script(), "--demo"],
        env=clean_env(FRAMES_MCP_OUTPUT_DIR="generated_imgs"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert re.search(r"FRAMES_MCP_OUTPUT_DIR: must be an absolute path, got 'generated_imgs'", proc.stderr)
