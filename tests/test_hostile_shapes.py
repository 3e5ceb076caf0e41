"""A hostile upstream, class by class (issue 10), part two: what useapi may send that is not a number.

Undocumented statuses, a token echoed back, URLs that would break the gallery's CSP or reach into this
machine, planted files, `%` in a taskId, and the shapes real useapi sends. The same checks hold as in
test_hostile.py (see tests/hostile_calls.py): every call within its budget, no token in any result or log line.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from frames_mcp.media.delivery import POST_BUDGET
from frames_mcp.server.app import build_server
from frames_mcp.server.gallery import GALLERY_URI
from frames_mcp.useapi.transport import shared_tls

from .conftest import running_sim, stop_later, wire
from .hostile import API, CANARY, EMAIL, Reply, Upstream, png, serving, task_id
from .hostile_calls import FLOOR, TUNING, call, connect, literal, settings, token_never_logged, upstream  # noqa: F401 - the fixtures `no_token_in_logs`, `up`

pytestmark = pytest.mark.anyio


# ---- undocumented statuses never hold a slot past a bound --------------------------------------------------


@pytest.mark.parametrize("status", ["EXPLODED", None, 42])
async def test_an_undocumented_status_does_not_hold_a_slot(up: Upstream, status: Any) -> None:
    # Ten tasks stuck at EXPLODED once made every later call "not created: all 10 slots busy".
    up.on_task = lambda tid, n: Reply(up.task(status, taskId=tid))
    async with connect(up) as c:
        first, text = await call(c, "generate_frames", {"text_prompt": "one", "maxJobs": 1, "wait_seconds": 1}, FLOOR)
        assert not first.is_error and up.task_id in text
        _, text = await call(c, "generate_frames", {"text_prompt": "two", "maxJobs": 1, "wait_seconds": 1}, FLOOR)
    assert "not created" not in text.lower(), text
    assert up.count("POST", "/frames/create") == 2


# ---- the token: redacted from anything upstream echoes -----------------------------------------------------


async def test_a_401_echoing_the_token_shows_it_nowhere(up: Upstream) -> None:
    # The 401 body once reached the tool result and an INFO log line, though the README says it never appears.
    up.on_create = lambda body: Reply({"error": f"Unauthorized: Bearer {CANARY} is not valid", "code": 401}, 401)
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 1}, FLOOR)
    assert r.is_error and "401" in text and "USEAPI_TOKEN" in text


async def test_a_task_error_echoing_the_token_shows_it_nowhere(up: Upstream) -> None:
    failed = up.task("FAILED", error={"reason": "INTERNAL", "message": f"token {CANARY} rejected by Runway"})
    up.on_task = lambda tid, n: Reply(failed)
    up.on_list = lambda request: Reply({"error": f"bad token {CANARY}", "code": 500}, 500)
    async with connect(up) as c:
        r, _ = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
        listed, _ = await call(c, "list_tasks", {"account": True}, FLOOR)
    assert r.is_error and (listed.structured_content or {})["accountError"]


# ---- the gallery's CSP takes validated origins only --------------------------------------------------------


async def test_only_a_validated_origin_enters_the_gallery_csp(up: Upstream) -> None:
    # An artifact URL once put `script-src 'unsafe-inline' *` verbatim into the view's resourceDomains.
    evil = [
        "https://img.example;script-src 'unsafe-inline' * data:;/a.png",
        "https://img.example%20*/a.png",
        "https://[::1]:99999/a.png",
        "https://a.example\n.b/x.png",
    ]
    arts = [up.artifact(i, url=u, preview=u) for i, u in enumerate(evil)]
    up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid, artifacts=arts))
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    server = build_server(settings(up), TUNING)
    async with Client(server, mode="auto", extensions=[apps]) as c:  # type: ignore[arg-type]
        await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
        read = await c.read_resource(GALLERY_URI)
    domains = wire(read.contents[0])["_meta"]["ui"]["csp"]["resourceDomains"]
    valid = re.compile(r"^https?://([a-z0-9-]+\.)*[a-z0-9-]+(:\d{1,5})?$|^https?://\[[0-9a-f:.]+\](:\d{1,5})?$")
    assert all(valid.match(d) for d in domains), domains


# ---- the URL guard for artifact and preview URLs ----------------------------------------------------------


async def test_artifact_urls_on_other_local_ports_and_metadata_addresses_are_refused(
    up: Upstream, tmp_path: Path
) -> None:
    # Upstream's URLs were fetched from anywhere: 127.0.0.1 on other ports, 169.254.169.254. Loopback is allowed
    # only where the configured upstream itself is (here: its own origin); link-local and metadata never.
    with serving(Upstream(), stop_later) as bystander:
        arts = [
            up.artifact(0),  # the upstream's own origin: fetched, as in demo mode
            up.artifact(1, url=bystander.url("a.png"), preview=bystander.url("p.png")),
            up.artifact(2, url="http://169.254.169.254/latest/meta-data/a.png", preview="http://169.254.169.254/p"),
            up.artifact(3, url="http://[::ffff:169.254.169.254]/a.png", preview="http://[fe80::1]/p.png"),
        ]
        up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid, artifacts=arts))
        async with connect(up, output_dir=tmp_path) as c:
            r, text = await call(c, "get_task", {"taskId": up.task_id, "save": True, "preview": True},
                                 FLOOR + POST_BUDGET)  # fmt: skip
        assert bystander.requests == [], "a URL on another local port was fetched"
    files = (r.structured_content or {})["files"]
    assert [f["index"] for f in files] == [0]
    assert text.count("Refused") >= 3, text


# ---- saving: a saved file is one this call wrote, or one whose bytes were checked --------------------------


async def test_a_planted_hardlink_is_not_reported_as_a_saved_image(up: Upstream, tmp_path: Path) -> None:
    # A hardlink under image 2's name once made a text file "saved image 2".
    out = tmp_path / "out"
    out.mkdir()
    secret = tmp_path / "notes.txt"
    secret.write_text("not an image\n")
    os.link(secret, out / f"frames-20261130-{up.uid}-2.png")
    up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid))
    async with connect(up, output_dir=out) as c:
        r, _ = await call(c, "get_task", {"taskId": up.task_id, "save": True}, FLOOR + POST_BUDGET)
    files = {f["index"]: f for f in (r.structured_content or {})["files"]}
    assert Path(files[1]["path"]).read_bytes().startswith(b"\x89PNG")  # noqa: ASYNC240 - a test's last look
    assert secret.read_text() == "not an image\n"  # and nothing was written through the link


# ---- taskIds: a `%` of the valid form reaches useapi as itself ---------------------------------------------


async def test_a_percent_in_a_task_id_is_escaped(up: Upstream) -> None:
    # `a%2F..%2Fb@...` is of the documented form; sent unescaped, useapi decodes it into a path of its own.
    tid = task_id(up.uid, email="a%2F..%2Fb@example.com")
    up.on_task = lambda t, n: Reply(up.task("RUNNING", taskId=tid))
    async with connect(up) as c:
        await call(c, "get_task", {"taskId": tid}, FLOOR)
    assert [r.path for r in up.requests if r.method == "GET"] == [f"{API}/tasks/{tid}"]


# ---- what real useapi sends -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        {"reason": "INPUT_PREPROCESSING.SAFETY.TEXT", "message": "Prompt flagged"},
        {"reason": "INTERNAL.BAD_OUTPUT.CODE01", "moderation_category": "VIOLENCE"},
    ],
)
async def test_any_safety_reason_or_category_is_moderation(up: Upstream, error: dict[str, str]) -> None:
    # Repeated moderations can get the account suspended: the model must not be told to simply call again.
    up.on_task = lambda tid, n: Reply(up.task("FAILED", taskId=tid, error=error))
    async with connect(up) as c:
        r, _ = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    next_step = (r.structured_content or {})["nextStep"]
    assert r.is_error and "moderat" in next_step and "do not resend" in next_step.lower()


async def test_sizes_are_shown_in_their_real_orientation(up: Upstream) -> None:
    # Runway reports width/height portrait-first with flip:true for landscape (the seed: 16:9 -> 1088x1920).
    arts = [{k: v for k, v in up.artifact(i).items() if k != "metadata"} for i in range(4)]
    landscape = up.succeeded(taskId=up.task_id, artifacts=arts)  # options 1088x1920 with flip: true
    up.on_task = lambda tid, n: Reply(landscape)
    async with connect(up) as c:
        r, text = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    options = (r.structured_content or {})["options"]
    assert (options["width"], options["height"]) == (1920, 1088)
    assert options["aspect_ratio"] == "16:9" and "16:9" in text


async def test_an_unknown_task_list_shape_is_an_error_that_says_so(up: Upstream) -> None:
    # The body of GET tasks/ is documented nowhere: a shape the code does not know is not "no tasks".
    up.on_list = lambda request: Reply({"data": [up.task("SUCCEEDED")], "next": None})
    async with connect(up) as c:
        r, _ = await call(c, "list_tasks", {"account": True}, FLOOR)
    structured = r.structured_content or {}
    assert structured.get("account") is None and "shape" in structured["accountError"]


async def test_an_unknown_list_shape_never_tells_a_failed_create_it_is_safe_to_retry(up: Upstream) -> None:
    # After a 500 at create, only a list the code can read may say "not created, safe to call again".
    up.on_create = lambda body: Reply({"error": "upstream broke", "code": 500}, 500)
    up.on_list = lambda request: Reply({"rows": []})
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 2}, FLOOR)
    assert r.is_error and "may have been created" in text and "safe" not in text


async def test_the_documented_upload_answer_is_read(up: Upstream) -> None:
    # useapi's upload answer has no email, metadata or fileSize; type is {name, type, isDirectory}, size a number.
    asset = f"user:4242-runwayml:{EMAIL}-asset:{up.uid}"
    documented = {
        "assetId": asset,
        "id": up.uid,
        "name": "ref",
        "type": {"name": "image", "type": "image/png", "isDirectory": False},
        "size": 1234,
        "url": up.url("a.png"),
        "previewUrls": [up.url("p.png")],
    }
    up.on_upload = lambda request: Reply(documented)
    data = base64.b64encode(png(40, 30)).decode()
    async with connect(up, email=EMAIL) as c:
        r, text = await call(c, "upload_image", {"data": data, "name": "ref"}, FLOOR)
    out = r.structured_content or {}
    assert not r.is_error and out["assetId"] == asset and (out["width"], out["height"]) == (40, 30)
    assert out["email"] == EMAIL and asset in text


async def test_the_simulator_answers_uploads_in_the_documented_shape() -> None:
    # The simulator must be faithful to the documented shapes, not to what is convenient for the code.
    with running_sim() as sim:
        headers = {"Authorization": f"Bearer {sim.config.token}", "Content-Type": "image/png"}
        async with httpx2.AsyncClient(verify=shared_tls(), base_url=sim.base_url, headers=headers) as http:  # type: ignore[attr-defined]
            up = (await http.post(f"{API}/assets/", params={"name": "ref"}, content=png())).json()
            got = (await http.get(f"{API}/assets/{up['assetId']}")).json()
    assert not {"email", "metadata", "fileSize"} & set(up)
    assert set(up["type"]) == {"name", "type", "isDirectory"} and isinstance(up["size"], int)
    assert got["metadata"] is None and isinstance(got["fileSize"], int) and got["mediaType"] == "image"


async def test_the_credits_useapi_reports_are_told(up: Upstream) -> None:
    # Every create answer carries `features`: what is used and what is left goes to the person.
    features = {"storageGB": 500, "numPlanCredits_permitted": 2250, "numPlanCredits_used": 1515}
    create = up.default_create
    up.on_create = lambda body: Reply({**create(body).body, "features": features})
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 3}, 3)
    assert not r.is_error
    assert (r.structured_content or {})["credits"] == {"used": 1515, "permitted": 2250, "remaining": 735}
    assert "735" in text and "2250" in text


async def test_credits_out_of_range_are_not_told(up: Upstream) -> None:
    # `features` is a number like any other from upstream: NaN or a negative count is unknown.
    create = up.default_create
    features = '{"numPlanCredits_permitted": NaN, "numPlanCredits_used": -4}'
    up.on_create = lambda body: Reply(raw=literal(create(body).body, features=features))
    async with connect(up) as c:
        r, _ = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 3}, 3)
    assert not r.is_error and (r.structured_content or {}).get("credits") is None
