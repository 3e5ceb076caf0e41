"""A hostile upstream, class by class (issue 10): nothing useapi sends may hang, flood or crash a call.

Every test talks to the server through the SDK's real `mcp.Client` (in memory; the memory-bound one over
stdio), against `tests/hostile.py`, a stand-in that answers what each test scripts. Through all of them:
- no call outlives its budget by more than MARGIN seconds (the budget is the call's wait, or the request
  floor when that is longer, plus the post-wait delivery budget when images are delivered);
- the useapi token (CANARY) appears in no result and in no log line at DEBUG (the autouse fixture);
- a result of a created task carries its taskId, and no result is the SDK's opaque "Error executing tool".
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.extension import advertise
from mcp.client.stdio import stdio_client
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult
from pydantic import SecretStr

from frames_mcp.config import Settings
from frames_mcp.jobs.service import Tuning
from frames_mcp.media.delivery import POST_BUDGET
from frames_mcp.server.app import build_server
from frames_mcp.server.gallery import GALLERY_URI
from frames_mcp.useapi.client import RetryPolicy

from .conftest import console_script, running_sim, text_of, wire
from .hostile import API, CANARY, EMAIL, Reply, Upstream, big_png, endless_json, png, serving, task_id

pytestmark = pytest.mark.anyio

# Seconds a call may run past its budget: scheduling and the last answer's round trip on a loaded 2-core box.
MARGIN = 1.5
# A short request floor, so a slow upstream shows quickly; the per-request timeouts stay at their real
# defaults (10 s per read, 30 s per create): the whole-request deadline, not those, must do the cutting.
FLOOR = 2.0
TUNING = Tuning(request_floor=FLOOR, recovery_seconds=1.0, retry=RetryPolicy(read_backoff=0.05))
PYDANTIC_WORDING = ("validation error for", "errors.pydantic.dev", "input_value=", "[type=")


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: the token never reaches a log line, at any level."""
    caplog.set_level(logging.DEBUG)
    yield
    leaked = [r.name for r in caplog.records if CANARY in r.getMessage() or CANARY in (r.exc_text or "")]
    assert not leaked and CANARY not in caplog.text, f"the useapi token was logged by {leaked}"


@pytest.fixture
def up() -> Iterator[Upstream]:
    with serving(Upstream()) as upstream:
        yield upstream


def settings(up: Upstream, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"token": SecretStr(CANARY), "base_url": up.base_url, "wait_seconds": 3, "preview": False}
    return Settings(**(values | overrides))


@asynccontextmanager
async def connect(up: Upstream, tuning: Tuning = TUNING, **overrides: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings(up, **overrides), tuning), mode="auto") as c:  # type: ignore[arg-type]
        yield c


def seen(result: CallToolResult, tool: str) -> str:
    """Everything the model sees of a result, after the checks every result must pass."""
    text = text_of(result)
    everything = text + json.dumps(result.structured_content or {})
    assert CANARY not in everything, "the useapi token reached a result"
    assert text.strip() != f"Error executing tool {tool}", "an opaque crash reached the model"
    assert not any(w in text for w in PYDANTIC_WORDING), text
    task = (result.structured_content or {}).get("taskId")
    if task:
        assert task in text, "a created task's result must name its taskId"
    return text


async def call(c: Client, tool: str, args: dict[str, Any], budget: float, **kw: Any) -> tuple[CallToolResult, str]:
    """Call a tool; it must answer within `budget` + MARGIN seconds (a hung call fails soon after)."""
    start = time.monotonic()
    with anyio.fail_after(budget + MARGIN + 10):
        result = await c.call_tool(tool, args, **kw)
    elapsed = time.monotonic() - start
    assert elapsed <= budget + MARGIN, f"{tool} took {elapsed:.1f} s for a {budget:g} s budget"
    return result, seen(result, tool)


def literal(body: dict[str, Any], **values: str) -> bytes:
    """`body` as JSON with some values replaced by raw JSON text (NaN, 1e999, a bare Infinity)."""
    text = json.dumps({**body, **{k: f"@@{k}@@" for k in values}})
    for key, raw in values.items():
        text = text.replace(f'"@@{key}@@"', raw)
    return text.encode()


# ---- numbers: every number read from useapi is finite and in range, or unknown ----------------------------

NON_FINITE = ['"NaN"', "NaN", '"Infinity"', "-Infinity", "1e999"]


@pytest.mark.parametrize("ratio", NON_FINITE)
async def test_a_non_finite_progress_ratio_neither_spins_nor_shows(up: Upstream, ratio: str) -> None:
    # "NaN" (JavaScript's String(NaN)) once made the next poll time NaN: no sleep, no deadline, thousands of GETs.
    up.on_task = lambda tid, n: Reply(raw=literal(up.task("RUNNING", taskId=tid), progressRatio=ratio))
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 3}, 3)
    assert not r.is_error and up.task_id in text
    assert up.count("GET", "/tasks/user:") <= 3 / 0.25 + 2  # never more often than the schedule's minimum
    assert (r.structured_content or {})["progress"] is None  # an unreadable ratio is unknown, not 0 or 100 %


@pytest.mark.parametrize("eta", [*NON_FINITE, "-3", "1e12"])
async def test_a_queue_estimate_out_of_range_renders_as_unknown(up: Upstream, eta: str) -> None:
    # NaN or Infinity once crashed round()/math.ceil in rendering: a bare error without the taskId, on every read.
    up.on_task = lambda tid, n: Reply(raw=literal(up.task("PENDING", taskId=tid), estimatedTimeToStartSeconds=eta))
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 2}, 2,
                             progress_callback=on_progress)  # fmt: skip
        again, _ = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    assert not r.is_error and not again.is_error and up.task_id in text
    assert progress, "progress notifications were sent"
    assert (again.structured_content or {})["estimatedTimeToStartSeconds"] is None


@pytest.mark.parametrize("width", ['"NaN"', "1e999", "-5", "1.5"])
async def test_an_image_size_out_of_range_is_unknown_not_an_unreadable_task(up: Upstream, width: str) -> None:
    # One odd number in an artifact's metadata must not make the whole finished task unreadable.
    art = up.artifact(0)
    raw = literal(art["metadata"]["size"], width=width).decode()
    art["metadata"] = {"size": "@@size@@"}
    body = literal(up.succeeded(1), artifacts="[" + literal(art, metadata='{"size": ' + raw + "}").decode() + "]")
    up.on_task = lambda tid, n: Reply(raw=body)
    async with connect(up) as c:
        r, _ = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    assert not r.is_error
    (artifact,) = (r.structured_content or {})["artifacts"]
    assert artifact["width"] is None and artifact["height"] == 1088


# ---- a whole-request deadline: a dripping upstream cannot hold a call ------------------------------------


async def test_a_dripping_task_answer_is_cut_to_the_budget(up: Upstream) -> None:
    # Per-read timeouts never fire on a body that arrives one byte every 0.3 s; only a whole-request deadline does.
    up.on_task = lambda tid, n: Reply(up.task("RUNNING", taskId=tid), drip=0.3)
    async with connect(up) as c:
        r, text = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    assert r.is_error and up.task_id in text


async def test_a_dripping_create_answer_is_bounded(up: Upstream) -> None:
    # The create stays shielded so its answer can reach the ledger, but not past the call's budget.
    up.on_create = lambda body: Reply(up.task("PENDING"), drip=0.3)
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 2}, FLOOR)
    assert r.is_error and "created" in text  # not created, or may have been: the model is told which


async def test_a_dripping_account_list_is_cut_to_the_budget(up: Upstream) -> None:
    up.on_list = lambda request: Reply([up.task("SUCCEEDED")], drip=0.3)
    async with connect(up) as c:
        r, _ = await call(c, "list_tasks", {"account": True}, FLOOR)
    assert not r.is_error and (r.structured_content or {})["accountError"]


# ---- unreadable answers: an invalid-response error that keeps the taskId ---------------------------------

UNREADABLE = {
    "deep": Reply(raw=b"[" * 1000 + b"]" * 1000),
    "utf8": Reply(raw=b'{"taskId": "user:4242-runwayml:x@example.com-task:\xff\xfe", "status": "\xc3\x28"}'),
    "huge": Reply(stream=endless_json(200 * 1024 * 1024)),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
async def test_an_unreadable_poll_answer_keeps_the_task_id(up: Upstream, kind: str) -> None:
    # Parse failures of any kind once escaped as bare errors, and list_tasks failed on every call afterwards.
    up.on_task = lambda tid, n: UNREADABLE[kind]
    async with connect(up) as c:
        _, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 2}, 2)
        assert up.task_id in text
        listed, _ = await call(c, "list_tasks", {}, FLOOR)
        assert not listed.is_error and up.task_id in text_of(listed)
        got, got_text = await call(c, "get_task", {"taskId": up.task_id}, FLOOR)
    assert got.is_error and up.task_id in got_text and "not the documented JSON" in got_text
    reads = up.count("GET", "/tasks/user:")
    assert up.sent / reads < 8 * 1024 * 1024  # a task answer is a few KB: nobody reads 200 MB of one


@pytest.mark.parametrize("kind", list(UNREADABLE))
async def test_an_unreadable_create_answer_follows_the_may_have_been_created_path(up: Upstream, kind: str) -> None:
    # The create was sent and answered: the task may exist, so the account's list is checked, never a retry.
    up.on_create = lambda body: UNREADABLE[kind]
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 2}, FLOOR)
    assert r.is_error and "created" in text
    assert up.count("POST", "/frames/create") == 1 and up.count("GET", f"{API}/tasks/") >= 1


async def test_a_huge_account_list_is_not_read_whole(up: Upstream) -> None:
    # 16M `{}` once cost 1.4 GB of RSS: an answer far larger than any task list is refused while it streams.
    up.on_list = lambda request: Reply(stream=endless_json(200 * 1024 * 1024))
    async with connect(up) as c:
        r, _ = await call(c, "list_tasks", {"account": True}, FLOOR)
    assert (r.structured_content or {})["accountError"]
    assert up.sent < 40 * 1024 * 1024


# ---- Retry-After: clamped to a floor, create attempts bounded ---------------------------------------------


@pytest.mark.parametrize("retry_after", ["0", "-5", "NaN", "1e-9", "1e9"])
async def test_retry_after_never_floods_frames_create(up: Upstream, retry_after: str) -> None:
    # Retry-After 0 or NaN once sent 1,200-1,400 POSTs in 4 s from one call.
    busy = {"error": f"Account {EMAIL} is busy executing 5 tasks", "code": 429}
    up.on_create = lambda body: Reply(busy, status=429, headers={"Retry-After": retry_after})
    async with connect(up) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 3}, 3)
    assert up.count("POST", "/frames/create") <= 3
    assert r.is_error and "no task was created" in text.lower()


async def test_create_attempts_are_bounded_per_call(up: Upstream) -> None:
    # Even a Retry-After the policy honours as given cannot turn one call into a stream of paid-for-if-accepted POSTs.
    up.on_create = lambda body: Reply({"error": "busy", "code": 429}, status=429, headers={"Retry-After": "0.1"})
    quick = Tuning(request_floor=FLOOR, retry=RetryPolicy(retry_after_min=0.1, busy_floor=0.05))
    async with connect(up, quick) as c:
        r, text = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 5}, 5)
    assert r.is_error and "no task was created" in text.lower()
    assert up.count("POST", "/frames/create") == quick.retry.create_attempts


# ---- the contact sheet: decoded pixels bounded for the sheet as a whole -----------------------------------


def _children_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and name.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def _peak_rss_mb(pid: int) -> float:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# The server's peak RSS on the sheet below, in MB (about 175 measured, BENCHMARKS.md); the unbounded decoder kept
# every tile at full size: ~2.9 GB for 16 x 6300x6300, ~1 GB for these.
SHEET_RSS_LIMIT_MB = 300


async def test_previews_declaring_huge_sizes_stay_within_memory_and_time(up: Upstream, tmp_path: Path) -> None:
    # Sixteen PNG previews declaring 4000x4000 each pass the per-image pixel cap (6300x6300 ones once did too: kept
    # decoded, they took 2.9 GB and 20 s); only a budget for the sheet as a whole bounds them. Over stdio, so the
    # server's own peak RSS (VmHWM) is measured; `prlimit` keeps a regression from taking the machine down.
    up.files["huge.png"] = (big_png(4000, 4000), "image/png")
    arts = [up.artifact(i, preview=up.url("huge.png")) for i in range(16)]
    up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid, artifacts=arts))
    env = {"USEAPI_TOKEN": CANARY, "USEAPI_BASE_URL": up.base_url, "MALLOC_ARENA_MAX": "2", "PATH": os.environ["PATH"]}
    command = ["--as=3000000000", "--", console_script(), "--log-level", "DEBUG"]
    params = StdioServerParameters(command="prlimit", args=command, env=env)
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog, anyio.fail_after(60):
        async with Client(stdio_client(params, errlog=errlog)) as c:
            r, _ = await call(c, "generate_frames", {"text_prompt": "a heron", "wait_seconds": 3, "preview": True},
                              3 + POST_BUDGET)  # fmt: skip
            (pid,) = _children_named("frames-mcp")
            peak = _peak_rss_mb(pid)
    assert not r.is_error and up.task_id in text_of(r)
    assert peak < SHEET_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    logged = stderr.read_text()
    assert " DEBUG " in logged and CANARY not in logged  # the server's own log, at DEBUG, never shows the token


# ---- dates at the edges never stop a delivery --------------------------------------------------------------


@pytest.mark.parametrize(
    "created", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-13-45T99:00:00Z", "yesterday"]
)
async def test_an_edge_date_never_stops_saving(up: Upstream, tmp_path: Path, created: str) -> None:
    # These once raised OverflowError in the file name's date: the images were never delivered.
    up.created_at = created
    up.on_task = lambda tid, n: Reply(up.succeeded(taskId=tid))
    async with connect(up, output_dir=tmp_path) as c:
        r, text = await call(c, "get_task", {"taskId": up.task_id, "save": True}, FLOOR + POST_BUDGET)
    assert not r.is_error, text
    assert len((r.structured_content or {})["files"]) == 4


# ---- undocumented statuses never hold a slot past a bound --------------------------------------------------


@pytest.mark.parametrize("status", ["EXPLODED", None, 42])
async def test_an_undocumented_status_does_not_hold_a_slot(up: Upstream, status: Any) -> None:
    # Ten tasks stuck at EXPLODED once made every later call "not created: all 10 slots busy".
    up.on_task = lambda tid, n: Reply(up.task(status, taskId=tid))
    async with connect(up) as c:
        first, text = await call(c, "generate_frames", {"text_prompt": "one", "maxJobs": 1, "wait_seconds": 1}, FLOOR)
        assert not first.is_error and up.task_id in text
        _, text = await call(c, "generate_frames", {"text_prompt": "two", "maxJobs": 1, "wait_seconds": 3}, 3)
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
    with serving(Upstream()) as bystander:
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
    assert structured["account"] is None and "shape" in structured["accountError"]


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
        async with httpx2.AsyncClient(base_url=sim.base_url, headers=headers) as http:  # type: ignore[attr-defined]
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
