"""The useapi.net simulator, exercised over real loopback HTTP the way the client will meet it.

Most tests share one threaded server whose clock is driven by hand, so task lifecycles are stepped
deterministically with no sleeping; a few start their own server for a config of their own.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from PIL import Image

from frames_mcp.simulator import Fault, Simulator, SimulatorConfig, run_in_thread, serve
from frames_mcp.useapi.ids import TASK_ID_RE
from frames_mcp.useapi.transport import shared_tls

from .conftest import ManualClock

pytestmark = pytest.mark.anyio

API = "/v1/runwayml"
DEMO, BUSY, OTHER = "demo@frames.local", "busy@frames.local", "other@frames.local"
EXPIRED_TOKEN = "user:2-expired-token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def sim(clock: ManualClock) -> Simulator:
    config = SimulatorConfig(
        accounts={DEMO: 10, BUSY: 2, OTHER: 5},
        queue_seconds=1.0,
        run_seconds=4.0,
        expired_tokens={EXPIRED_TOKEN},
        max_upload_bytes=200_000,
        clock=clock,
    )
    return Simulator(config)


@pytest.fixture(scope="module")
def base_url(sim: Simulator) -> Iterator[str]:
    with run_in_thread(sim) as url:
        yield url


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    # Each test leaves no fault behind and lets every task it started finish, freeing maxJobs slots.
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").clear_faults()
        request.getfixturevalue("clock").advance(10_000)


@pytest.fixture
async def client(base_url: str, sim: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    headers = {"Authorization": f"Bearer {sim.config.token}"}
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=base_url, headers=headers, timeout=5) as c:
        yield c


async def create(client: httpx2.AsyncClient, **body: Any) -> httpx2.Response:
    return await client.post(f"{API}/frames/create", json={"text_prompt": "a lighthouse at dusk", **body})


async def created_task(client: httpx2.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await create(client, **body)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def read(client: httpx2.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/tasks/{task_id}")
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


def png_bytes(size: tuple[int, int] = (64, 32), colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def jwt_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["_jwt"][0]


async def wait_until(predicate: Any) -> None:
    """Poll a server-side condition that follows a client-side error (no fixed sleeps)."""
    with anyio.fail_after(3):
        while not predicate():  # noqa: ASYNC110 - the state lives in the server thread; nothing to await
            await anyio.sleep(0.01)


# ---- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer user:1-wrong"}, {"Authorization": "Basic x"}])
async def test_requests_without_the_token_get_401(base_url: str, headers: dict[str, str]) -> None:
    # Every /v1 endpoint needs the Bearer token; useapi's documented 401 body.
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=base_url, headers=headers) as anonymous:
        response = await anonymous.post(f"{API}/frames/create", json={"text_prompt": "x"})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "code": 401}


async def test_expired_subscription_gets_402(base_url: str) -> None:
    # A token in expired_tokens is known but its subscription lapsed: 402, not 401.
    headers = {"Authorization": f"Bearer {EXPIRED_TOKEN}"}
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=base_url, headers=headers) as expired:
        response = await expired.get(f"{API}/accounts")
    assert response.status_code == 402
    assert response.json()["code"] == 402


# ---- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"text_prompt": "x" * 1001},
        {"text_prompt": ""},
        {"text_prompt": None},
        {"style": "watercolour"},
        {"aspect_ratio": "2:1"},
        {"diversity": 6},
        {"diversity": "lots"},
        {"diversity": True},
        {"seed": 0},
        {"seed": 4294967295},
        {"num_images": 2},
        {"maxJobs": 11},
        {"exploreMode": "maybe"},
        {"replyRef": "r" * 1025},
        {"email": "nobody@example.com"},
        {"imageAssetId1": "user:1-runwayml:demo@frames.local-asset:00000000-0000-4000-8000-000000000000"},
    ],
)
async def test_invalid_create_is_400_and_creates_nothing(
    client: httpx2.AsyncClient, sim: Simulator, body: dict[str, Any]
) -> None:
    # The simulator validates like the server: documented 400 shape, and no task is started.
    before = sim.counts()["creates"]
    response = await create(client, **body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["code"] == 400
    assert isinstance(payload["error"], str)
    assert payload["error"]
    assert sim.counts()["creates"] == before


async def test_body_that_is_not_json_is_400(client: httpx2.AsyncClient) -> None:
    response = await client.post(f"{API}/frames/create", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


# ---- create and the task lifecycle -----------------------------------------------------------------


async def test_create_answers_the_documented_pending_task(client: httpx2.AsyncClient) -> None:
    task = await created_task(client, style="vivid", diversity=3, replyRef="ref-1", exploreMode=True)
    assert TASK_ID_RE.fullmatch(task["taskId"])
    assert task["taskId"].endswith(task["id"])
    assert DEMO in task["taskId"]
    assert task["status"] == "PENDING"
    assert task["code"] == 200
    assert task["artifacts"] == []
    assert task["error"] is None
    assert task["progressRatio"] is None
    assert task["estimatedTimeToStartSeconds"] == 1.0
    options = task["options"]
    assert options["text_prompt"] == "a lighthouse at dusk"
    assert options["style"] == "vivid"
    assert options["diversity"] == 3
    assert options["exploreMode"] is True
    assert options["num_images"] == 4
    assert 1 <= options["seed"] <= 4294967294  # random when not given
    assert (options["width"], options["height"], options["flip"]) == (1088, 1920, True)  # 16:9, as documented
    assert task["replyRef"] == "ref-1"
    assert set(task["features"]) == {"storageGB", "numPlanCredits_permitted", "numPlanCredits_used"}


async def test_task_moves_pending_running_succeeded_with_the_clock(
    client: httpx2.AsyncClient, clock: ManualClock
) -> None:
    task_id = (await created_task(client, seed=42))["taskId"]

    clock.advance(0.5)  # halfway through the 1 s queue
    pending = await read(client, task_id)
    assert pending["status"] == "PENDING"
    assert pending["estimatedTimeToStartSeconds"] == 0.5

    clock.advance(1.5)  # 1 s into the 4 s run
    running = await read(client, task_id)
    assert running["status"] == "RUNNING"
    assert running["progressRatio"] == "0.25"  # a string, as useapi sends it
    assert running["estimatedTimeToStartSeconds"] is None
    assert running["artifacts"] == []

    clock.advance(3.0)
    done = await read(client, task_id)
    assert done["status"] == "SUCCEEDED"
    assert done["progressRatio"] == "1"
    assert done["options"]["seed"] == 42
    assert len(done["artifacts"]) == 4


async def test_succeeded_artifacts_have_the_documented_shape(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    task_id = (await created_task(client, aspect_ratio="21:9", num_images=1))["taskId"]
    clock.advance(5)
    [artifact] = (await read(client, task_id))["artifacts"]
    email, uuid = task_id.split("-runwayml:")[1].split("-task:")
    assert artifact["assetId"] == f"user:1-runwayml:{email}-asset:{artifact['id']}"
    assert artifact["taskId"] == task_id
    assert uuid in artifact["url"]
    assert isinstance(artifact["fileSize"], str)
    assert artifact["fileSize"].isdigit()
    assert artifact["filename"].endswith(".png")
    assert len(artifact["previewUrls"]) == 1
    assert artifact["metadata"] == {"dimensions": [2240, 960], "size": {"width": 2240, "height": 960}}


@pytest.mark.parametrize("aspect_ratio", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"])
async def test_artifact_urls_serve_real_images_at_the_aspect_ratio(
    client: httpx2.AsyncClient, clock: ManualClock, sim: Simulator, aspect_ratio: str
) -> None:
    task_id = (await created_task(client, aspect_ratio=aspect_ratio, num_images=1))["taskId"]
    clock.advance(5)
    [artifact] = (await read(client, task_id))["artifacts"]
    full = await client.get(artifact["url"])
    assert full.status_code == 200
    assert full.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(full.content))
    assert image.format == "PNG"
    assert max(image.size) == sim.config.image_px
    width, height = artifact["metadata"]["size"]["width"], artifact["metadata"]["size"]["height"]
    assert image.width / image.height == pytest.approx(width / height, rel=0.02)
    preview = await client.get(artifact["previewUrls"][0])
    assert preview.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(preview.content)).format == "JPEG"


async def test_every_read_re_signs_the_urls(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    # useapi proxies Runway live, so each GET hands out freshly signed links; old ones keep working.
    task_id = (await created_task(client, num_images=1))["taskId"]
    clock.advance(5)
    first = (await read(client, task_id))["artifacts"][0]["url"]
    second = (await read(client, task_id))["artifacts"][0]["url"]
    assert first.split("?")[0] == second.split("?")[0]
    assert jwt_of(first) != jwt_of(second)
    assert (await client.get(first)).status_code == 200
    assert (await client.get(second)).status_code == 200


async def test_forged_or_missing_jwt_is_403(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    task_id = (await created_task(client, num_images=1))["taskId"]
    clock.advance(5)
    url = (await read(client, task_id))["artifacts"][0]["url"]
    bare = url.split("?")[0]
    assert (await client.get(bare)).status_code == 403
    assert (await client.get(bare + "?_jwt=not.a.token")).status_code == 403
    other_file = url.replace("/0.png?", "/0_preview.jpg?")  # a token is bound to its own file
    assert (await client.get(other_file)).status_code == 403


async def test_artifacts_of_unknown_tasks_are_404(client: httpx2.AsyncClient) -> None:
    response = await client.get("/artifacts/00000000-0000-4000-8000-000000000000/0.png?_jwt=x")
    assert response.status_code == 404


async def test_expired_jwt_is_403() -> None:
    # url_ttl_seconds < 0 signs URLs that have already expired.
    sim = Simulator(SimulatorConfig(queue_seconds=0, run_seconds=0, url_ttl_seconds=-1))
    async with serve(sim) as url, httpx2.AsyncClient(verify=shared_tls(), base_url=url, headers=_auth(sim)) as client:
        task_id = (await created_task(client, num_images=1))["taskId"]
        artifact_url = (await read(client, task_id))["artifacts"][0]["url"]
        assert (await client.get(artifact_url)).status_code == 403


def _auth(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.config.token}"}


async def test_real_clock_drives_a_task_to_success() -> None:
    # The default clock: a short queue and run, polled until done, through serve() in this loop.
    sim = Simulator(SimulatorConfig(queue_seconds=0.05, run_seconds=0.2))
    seen: list[str] = []
    async with serve(sim) as url, httpx2.AsyncClient(verify=shared_tls(), base_url=url, headers=_auth(sim)) as client:
        task_id = (await created_task(client))["taskId"]
        with anyio.fail_after(5):
            while not seen or seen[-1] != "SUCCEEDED":
                seen.append((await read(client, task_id))["status"])
                await anyio.sleep(0.02)
    order = ["PENDING", "RUNNING", "SUCCEEDED"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)


async def test_time_scale_speeds_up_simulated_time() -> None:
    # Benchmarks compress a 5 s simulated task into 0.5 s of real time with time_scale=10.
    clock = ManualClock()
    sim = Simulator(SimulatorConfig(queue_seconds=1, run_seconds=4, time_scale=10, clock=clock))
    async with serve(sim) as url, httpx2.AsyncClient(verify=shared_tls(), base_url=url, headers=_auth(sim)) as client:
        task = await created_task(client)
        assert task["estimatedTimeToStartSeconds"] == 0.1  # reported in real seconds
        clock.advance(0.51)
        assert (await read(client, task["taskId"]))["status"] == "SUCCEEDED"


async def test_multipart_form_fields_are_coerced(
    client: httpx2.AsyncClient, clock: ManualClock, sim: Simulator
) -> None:
    # Form-data delivers strings; "true"/"4"/"1" must become the typed values.
    fields = {"text_prompt": "a fox", "num_images": "1", "exploreMode": "true", "diversity": "4", "seed": "7"}
    response = await client.post(f"{API}/frames/create", files={k: (None, v) for k, v in fields.items()})
    assert response.status_code == 200, response.text
    assert sim.last_create_body == fields  # what the client sent, before coercion
    options = response.json()["options"]
    assert (options["num_images"], options["exploreMode"], options["diversity"], options["seed"]) == (1, True, 4, 7)
    clock.advance(5)
    assert len((await read(client, response.json()["taskId"]))["artifacts"]) == 1


# ---- accounts and maxJobs --------------------------------------------------------------------------


async def test_full_account_answers_429_with_running_tasks(client: httpx2.AsyncClient, sim: Simulator) -> None:
    first = await created_task(client, email=BUSY, replyRef="a")
    second = await created_task(client, email=BUSY, replyRef="b")
    response = await create(client, email=BUSY)
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == f"Account {BUSY} is busy executing 2 tasks"
    assert body["code"] == 429
    running = body["runningTasks"][BUSY]
    assert [r["taskId"] for r in running] == [first["taskId"], second["taskId"]]
    assert running[0] == {
        "email": BUSY,
        "taskId": first["taskId"],
        "id": first["id"],
        "replyUrl": None,
        "replyRef": "a",
    }
    assert sim.counts()["per_account"][BUSY]["429s"] >= 1


async def test_slot_frees_when_a_task_finishes(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    await created_task(client, email=BUSY, maxJobs=1)
    assert (await create(client, email=BUSY, maxJobs=1)).status_code == 429  # request maxJobs overrides 2
    clock.advance(5)
    assert (await create(client, email=BUSY, maxJobs=1)).status_code == 200


async def test_without_email_the_first_account_with_a_free_slot_runs_it(client: httpx2.AsyncClient) -> None:
    first = await created_task(client, maxJobs=1)
    second = await created_task(client, maxJobs=1)
    assert DEMO in first["taskId"]
    assert BUSY in second["taskId"]


async def test_accounts_are_listed(client: httpx2.AsyncClient) -> None:
    accounts = (await client.get(f"{API}/accounts")).json()
    assert (accounts[BUSY]["email"], accounts[BUSY]["maxJobs"]) == (BUSY, 2)
    # As documented, each account comes with its password and JWT (made up here): clients must not show them.
    assert {"password", "jwt"} <= set(accounts[BUSY]) and "token" in accounts[BUSY]["jwt"]
    assert set(accounts) == {DEMO, BUSY, OTHER}


# ---- magic words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "reason"), [("[moderated]", "SAFETY.INPUT.TEXT"), ("[fail]", "INTERNAL.BAD_OUTPUT.CODE01")]
)
async def test_magic_words_fail_the_task(
    client: httpx2.AsyncClient, clock: ManualClock, word: str, reason: str
) -> None:
    task = await created_task(client, text_prompt=f"a castle {word}")
    assert task["options"]["text_prompt"] == f"a castle {word}"  # stored as given
    clock.advance(10)
    failed = await read(client, task["taskId"])
    assert failed["status"] == "FAILED"
    assert failed["artifacts"] == []
    error = failed["error"]
    assert error["reason"] == reason
    assert set(error) == {"errorMessage", "reason", "message", "moderation_category", "tally_asimov"}


@pytest.mark.parametrize(
    ("word", "status", "body"),
    [
        ("[no-credits]", 412, {"error": "You do not have enough credits to run this task."}),
        (
            "[busy]",
            429,
            {
                "error": "You have too many tasks running or pending. Please wait for some of them to finish "
                "before starting more."
            },
        ),
    ],
)
async def test_magic_words_refuse_with_the_documented_body(
    client: httpx2.AsyncClient, word: str, status: int, body: dict[str, Any]
) -> None:
    response = await create(client, text_prompt=f"a castle {word}")
    assert response.status_code == status
    assert response.json() == body


async def test_moderate_create_is_422(client: httpx2.AsyncClient) -> None:
    response = await create(client, text_prompt="a castle [moderate-create]")
    assert response.status_code == 422
    assert response.json()["code"] == 422


async def test_slow_word_takes_ten_times_longer(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    task_id = (await created_task(client, text_prompt="a castle [SLOW]"))["taskId"]  # case-insensitive
    clock.advance(6)  # a normal task would be done
    assert (await read(client, task_id))["status"] == "PENDING"
    clock.advance(45)
    assert (await read(client, task_id))["status"] == "SUCCEEDED"


async def test_throttled_word_waits_as_throttled(client: httpx2.AsyncClient) -> None:
    task_id = (await created_task(client, text_prompt="a castle [throttled]"))["taskId"]
    assert (await read(client, task_id))["status"] == "THROTTLED"


# ---- tasks, list, scheduler --------------------------------------------------------------------------


async def test_unknown_task_is_404(client: httpx2.AsyncClient) -> None:
    task_id = f"user:1-runwayml:{DEMO}-task:00000000-0000-4000-8000-000000000000"
    response = await client.get(f"{API}/tasks/{task_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "code": 404}


@pytest.mark.parametrize("task_id", ["not-a-task", "user:1-runwayml:demo@frames.local-task:123", "..%2Faccounts"])
async def test_malformed_task_id_is_400(client: httpx2.AsyncClient, task_id: str) -> None:
    response = await client.get(f"{API}/tasks/{task_id}")
    assert response.status_code == 400
    assert response.json()["code"] == 400


async def test_deleted_task_is_gone(client: httpx2.AsyncClient) -> None:
    task_id = (await created_task(client))["taskId"]
    assert (await client.delete(f"{API}/tasks/{task_id}")).json() == {"success": True}
    assert (await client.get(f"{API}/tasks/{task_id}")).status_code == 404


async def test_task_list_is_newest_first_and_filters(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    older = (await created_task(client, email=OTHER))["taskId"]
    clock.advance(10)
    newer = (await created_task(client, email=OTHER))["taskId"]
    listed = (await client.get(f"{API}/tasks/", params={"email": OTHER, "limit": 2})).json()
    assert [t["taskId"] for t in listed] == [newer, older]
    pending = (await client.get(f"{API}/tasks/", params={"email": OTHER, "statuses": "PENDING,RUNNING"})).json()
    assert [t["taskId"] for t in pending] == [newer]
    assert (await client.get(f"{API}/tasks/", params={"statuses": "DONE"})).status_code == 400


async def test_scheduler_lists_in_flight_tasks(client: httpx2.AsyncClient) -> None:
    task = await created_task(client, replyUrl="https://example.com/hook", replyRef="r1")
    scheduled = (await client.get(f"{API}/scheduler")).json()
    assert {"taskId": task["taskId"], "replyUrl": "https://example.com/hook", "replyRef": "r1"} in scheduled


# ---- assets and describe -----------------------------------------------------------------------------


async def upload(client: httpx2.AsyncClient, data: bytes, content_type: str, **params: str) -> httpx2.Response:
    query = {"name": "ref", "email": DEMO} | params
    return await client.post(f"{API}/assets/", params=query, content=data, headers={"Content-Type": content_type})


async def test_png_upload_becomes_an_asset(client: httpx2.AsyncClient) -> None:
    response = await upload(client, png_bytes((64, 32)), "image/png")
    assert response.status_code == 200, response.text
    asset = response.json()
    assert asset["assetId"].endswith(f"-asset:{asset['id']}")
    assert asset["name"] == "ref"
    # The documented upload answer: size a number, type an object; no email, metadata or fileSize (issue 10).
    assert asset["size"] == len(png_bytes((64, 32))) and asset["type"]["type"] == "image/png"
    assert not {"email", "metadata", "fileSize"} & set(asset)
    fetched = (await client.get(f"{API}/assets/{asset['assetId']}")).json()
    assert fetched["id"] == asset["id"]
    assert (await client.get(fetched["url"])).content == png_bytes((64, 32))


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"definitely not a png", "image/png"), (png_bytes(), "image/jpeg"), (png_bytes(), "application/pdf")],
)
async def test_upload_that_is_not_the_claimed_image_is_400(
    client: httpx2.AsyncClient, data: bytes, content_type: str
) -> None:
    assert (await upload(client, data, content_type)).status_code == 400


async def test_oversized_upload_is_400(client: httpx2.AsyncClient, sim: Simulator) -> None:
    assert (await upload(client, b"\0" * (sim.config.max_upload_bytes + 1), "image/png")).status_code == 400


async def test_describe_reads_the_image_deterministically(client: httpx2.AsyncClient) -> None:
    asset_id = (await upload(client, png_bytes((120, 60), (30, 60, 210)), "image/png")).json()["assetId"]
    first = (await client.get(f"{API}/frames/describe/{asset_id}")).json()["prompt"]
    again = (await client.get(f"{API}/frames/describe/{asset_id}")).json()["prompt"]
    assert first == again
    assert first.startswith("Subject:")
    assert "Scene:" in first
    assert "Style:" in first
    assert "blue" in first
    assert (await client.get(f"{API}/frames/describe/{asset_id[:-4]}0000")).status_code == 404


async def test_referenced_asset_decides_the_account(client: httpx2.AsyncClient) -> None:
    # "Any generation that uses the asset runs on the account holding it."
    asset_id = (await upload(client, png_bytes(), "image/png", email=OTHER)).json()["assetId"]
    task = await created_task(client, text_prompt="@IMG_1 on a beach", imageAssetId1=asset_id)
    assert OTHER in task["taskId"]
    assert task["options"]["imageAssetId1"] == asset_id
    assert (await create(client, imageAssetId1=asset_id, email=DEMO)).status_code == 400


async def test_generated_images_are_assets_too(client: httpx2.AsyncClient, clock: ManualClock) -> None:
    task_id = (await created_task(client, num_images=1))["taskId"]
    clock.advance(5)
    asset_id = (await read(client, task_id))["artifacts"][0]["assetId"]
    assert (await client.get(f"{API}/assets/{asset_id}")).json()["taskId"] == task_id
    assert (await client.get(f"{API}/frames/describe/{asset_id}")).status_code == 200


# ---- faults ------------------------------------------------------------------------------------------


async def test_status_fault_answers_instead_and_creates_nothing(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("status", method="POST", path="/frames/create", status=503, headers={"Retry-After": "1"}))
    before = sim.counts()["creates"]
    response = await create(client)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"error": "Service Unavailable", "code": 503}
    assert sim.counts()["creates"] == before
    assert (await create(client)).status_code == 200  # used up after one request


async def test_status_fault_after_creates_the_task_anyway(client: httpx2.AsyncClient, sim: Simulator) -> None:
    # The dangerous case: the client sees 500 but the task exists and runs.
    sim.inject(Fault("status", path="/frames/create", after=True, body={"error": "boom"}))
    before = sim.counts()["creates"]
    response = await create(client)
    assert response.status_code == 500
    assert response.json() == {"error": "boom"}
    assert sim.counts()["creates"] == before + 1


async def test_fault_matches_method_and_path_and_counts_down(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("status", method="GET", path="/accounts", times=2, status=596))
    assert (await create(client)).status_code == 200  # a POST elsewhere is untouched
    assert [(await client.get(f"{API}/accounts")).status_code for _ in range(3)] == [596, 596, 200]


async def test_reset_drops_the_connection(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("reset", path="/accounts"))
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
        await client.get(f"{API}/accounts")
    assert (await client.get(f"{API}/accounts")).status_code == 200  # the next connection is fine


async def test_reset_after_create_leaves_a_running_task(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("reset", path="/frames/create", after=True))
    before = sim.counts()["creates"]
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
        await create(client)
    assert sim.counts()["creates"] == before + 1


async def test_read_timeout_without_after_never_processes(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("read_timeout", path="/frames/create", delay=30))
    before, logged = sim.counts()["creates"], len(sim.request_log)
    with pytest.raises(httpx2.ReadTimeout):
        await client.post(f"{API}/frames/create", json={"text_prompt": "x"}, timeout=0.2)
    # The server notices the client leaving and logs the request unanswered, without creating a task.
    await wait_until(lambda: len(sim.request_log) > logged)
    assert sim.request_log[-1].status == 0
    assert sim.counts()["creates"] == before


async def test_read_timeout_after_create_still_creates(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("read_timeout", path="/frames/create", delay=30, after=True))
    before = sim.counts()["creates"]
    with pytest.raises(httpx2.ReadTimeout):
        await client.post(f"{API}/frames/create", json={"text_prompt": "x"}, timeout=0.2)
    assert sim.counts()["creates"] == before + 1


async def test_read_timeout_answers_a_patient_client(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("read_timeout", path="/accounts", delay=0.05))
    assert (await client.get(f"{API}/accounts")).status_code == 200


async def test_slow_fault_processes_even_if_the_client_left(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("slow", path="/frames/create", delay=0.3))
    before = sim.counts()["creates"]
    with pytest.raises(httpx2.ReadTimeout):  # proves the delay without timing anything
        # Only the read is short: on a loaded machine a 0.05 s connect can time out first.
        await client.post(f"{API}/frames/create", json={"text_prompt": "x"}, timeout=httpx2.Timeout(10.0, read=0.05))
    await wait_until(lambda: sim.counts()["creates"] == before + 1)


async def test_malformed_json_fault(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("malformed_json", path="/frames/create"))
    response = await create(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_html_fault_is_a_proxy_error_page(client: httpx2.AsyncClient, sim: Simulator) -> None:
    sim.inject(Fault("html"))
    response = await client.get(f"{API}/accounts")
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "<html>" in response.text


async def test_stuck_pending_fault_on_create(client: httpx2.AsyncClient, sim: Simulator, clock: ManualClock) -> None:
    sim.inject(Fault("stuck_pending", method="POST"))
    task_id = (await created_task(client))["taskId"]
    clock.advance(1_000)
    assert (await read(client, task_id))["status"] == "PENDING"
    await client.delete(f"{API}/tasks/{task_id}")  # it would hold a maxJobs slot forever


async def test_stuck_pending_fault_on_read(client: httpx2.AsyncClient, sim: Simulator, clock: ManualClock) -> None:
    task_id = (await created_task(client))["taskId"]
    sim.inject(Fault("stuck_pending", method="GET", path="/tasks/"))
    await read(client, task_id)
    clock.advance(1_000)
    assert (await read(client, task_id))["status"] == "PENDING"
    await client.delete(f"{API}/tasks/{task_id}")


async def test_no_artifacts_fault(client: httpx2.AsyncClient, sim: Simulator, clock: ManualClock) -> None:
    sim.inject(Fault("no_artifacts", path="/frames/create"))
    task_id = (await created_task(client))["taskId"]
    clock.advance(10)
    done = await read(client, task_id)
    assert done["status"] == "SUCCEEDED"
    assert done["artifacts"] == []


async def test_faults_over_http(client: httpx2.AsyncClient, base_url: str) -> None:
    # Out-of-process users (the stdio subprocess tests) drive faults through /_sim.
    fault = {"kind": "status", "path": "/accounts", "status": 502, "times": 0}  # times <= 0: until cleared
    assert (await client.post("/_sim/faults", json=fault)).status_code == 200
    assert (await client.get(f"{API}/accounts")).status_code == 502
    assert (await client.get(f"{API}/accounts")).status_code == 502
    assert (await client.delete("/_sim/faults")).status_code == 200
    assert (await client.get(f"{API}/accounts")).status_code == 200
    assert (await client.post("/_sim/faults", json={"kind": "meteor"})).status_code == 400
    assert (await client.post("/_sim/faults", json={"kind": "reset", "times": "x"})).status_code == 400
    async with httpx2.AsyncClient(verify=shared_tls(), base_url=base_url) as anonymous:
        assert (await anonymous.get("/_sim/stats")).status_code == 401


async def test_stats_count_requests_per_account(client: httpx2.AsyncClient, sim: Simulator) -> None:
    before = sim.counts()["per_account"][OTHER]
    task_id = (await created_task(client, email=OTHER))["taskId"]
    await read(client, task_id)
    after = (await client.get("/_sim/stats")).json()["counts"]["per_account"][OTHER]
    assert after["creates"] == before["creates"] + 1
    assert after["gets"] == before["gets"] + 1
    assert after["in_flight"] == before["in_flight"] + 1
    assert sim.request_log[-1][:2] == ("GET", f"{API}/tasks/{task_id}")


# ---- standalone ----------------------------------------------------------------------------------------


def test_module_runs_standalone() -> None:
    # `python -m frames_mcp.simulator` prints its URL and token to stderr and nothing to stdout.
    proc = subprocess.Popen(
        [sys.executable, "-m", "frames_mcp.simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.split(" on ")[1].split()[0]
        assert "user:1-simulated-token" in line
        assert httpx2.get(f"{url}/healthz", verify=shared_tls()).json()["ok"] is True
    finally:
        proc.terminate()
        stdout, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert stdout == ""


async def test_features_report_the_plan_credits_used(client: httpx2.AsyncClient) -> None:
    # GET features/?email= as documented: permitted and used plan credits; a create spends some.
    before = (await client.get(f"{API}/features/", params={"email": DEMO})).json()
    await client.post(f"{API}/frames/create", json={"text_prompt": "a kite", "num_images": 1, "email": DEMO})
    after = (await client.get(f"{API}/features/", params={"email": DEMO})).json()
    assert before["permitted"]["numPlanCredits"] == after["permitted"]["numPlanCredits"] > 0
    assert after["used"]["numPlanCredits"] > before["used"]["numPlanCredits"]
    assert (await client.get(f"{API}/features/", params={"email": "nobody@example.com"})).status_code == 404
