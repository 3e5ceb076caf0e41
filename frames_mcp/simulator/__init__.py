"""A faithful stand-in for useapi.net's Runway Frames API (v1), served over real HTTP.

Used by `frames-mcp --demo`, the test suite and the benchmarks. Tasks have no background work: their
state is computed from the clock whenever they are read, so thousands of tasks cost nothing.

    sim = Simulator(SimulatorConfig(queue_seconds=0.05, run_seconds=0.2))
    async with serve(sim) as base_url: ...          # in the current asyncio loop
    with run_in_thread(sim) as base_url: ...         # in a daemon thread
    python -m frames_mcp.simulator --port 8787       # standalone (URL and token on stderr)

Endpoints (all under /v1/runwayml need `Authorization: Bearer <config.token>`; other tokens get 401,
`config.expired_tokens` get 402):

- POST frames/create: JSON, multipart/form-data or urlencoded (form strings are coerced). Checks
  text_prompt (1..1000), aspect_ratio, style, diversity 0..5, seed 1..4294967294, num_images 1|4
  (**default 4**: the docs' "generates 4 images"), exploreMode, replyUrl/replyRef <= 1024, maxJobs 1..10,
  email (a configured account) and imageAssetId1..3 (existing assets; the task runs on their account).
  Without email the first account with a free maxJobs slot is used. 429 when the account's in-flight
  tasks reach maxJobs (the request's maxJobs overrides the account's), with `runningTasks`.
- GET tasks/{taskId}: PENDING (progressRatio null, estimatedTimeToStartSeconds counting down in real
  seconds) -> RUNNING (progressRatio a string "0".."0.99", progressText) -> SUCCEEDED (progressRatio "1",
  num_images artifacts) or FAILED (error object). Malformed taskId 400, unknown 404. Artifact URLs are
  absolute on the simulator's origin, `/artifacts/<task uuid>/<i>.png?_jwt=...` (preview `<i>_preview.jpg`),
  re-signed on every read; an expired or forged `_jwt` gets 403, an unknown file 404 (XML, as CloudFront).
  Images are real PNG/JPEG at the task's aspect ratio, `config.image_px` on the longest side, while
  metadata reports the real Frames size (16:9 -> 1920x1088). `options.width/height` are portrait-ordered
  with `flip: true` for landscape, like the documented example.
- GET tasks/?offset=0&limit=100&statuses=PENDING,RUNNING&email=: a **JSON array of task objects** (each
  as GET tasks/{taskId} returns it), newest first, all accounts unless email is given. `?taskId=` (the
  legacy form) returns that one task object. DELETE tasks/{taskId} -> {"success": true}.
- GET scheduler -> [{taskId, replyUrl, replyRef}] of in-flight tasks; DELETE scheduler/{taskId} stops
  tracking a task (frees its maxJobs slot; the task itself runs on).
- POST assets/?name=&email= with a raw image body (image/png, jpeg, gif, webp; bytes checked with
  Pillow; over `config.max_upload_bytes` -> 400). GET/DELETE assets/{assetId}; artifacts of SUCCEEDED tasks
  are assets too. GET frames/describe/{assetId} -> {"prompt": "Subject: ... Scene: ... Style: ..."}, derived
  from the pixels only (size, dominant colours, brightness).
- GET accounts, accounts/{email}; GET /healthz.
- Control (Bearer token too): POST /_sim/faults (a Fault as JSON), DELETE /_sim/faults, GET /_sim/stats.

Magic words in text_prompt (case-insensitive; the prompt is stored as given):

- `[moderated]`       the task FAILS when it would start: error.reason "SAFETY.INPUT.TEXT"
- `[moderate-create]` 422 at create
- `[no-credits]`      412 {"error": "You do not have enough credits to run this task."}
- `[fail]`            the task FAILS at the end of its run: error.reason "INTERNAL.BAD_OUTPUT.CODE01"
- `[busy]`            429 {"error": "You have too many tasks running or pending. ..."} (no code field)
- `[slow]`            queue and run take 10x longer
- `[throttled]`       the task waits as THROTTLED instead of PENDING
- `[curve:<name>]`    progressRatio follows that curve instead of `config.progress_curve` (default "linear"):
                      stall, plateaus, slow-tail or noisy (see `_curves`)

Faults (`Simulator.inject(Fault(...))`) misbehave on matching requests: see `Fault`. The `reset` fault sends
a TCP RST without any response: `serve()` runs uvicorn with an h11 protocol subclass that puts a
per-connection abort hook into each request's `scope["state"]`.
"""

from frames_mcp.simulator._app import Simulator
from frames_mcp.simulator._config import Fault, FaultKind, LoggedRequest, SimulatorConfig
from frames_mcp.simulator._server import ThreadedServer, main, run_in_thread, serve

__all__ = [
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "Simulator",
    "SimulatorConfig",
    "ThreadedServer",
    "main",
    "run_in_thread",
    "serve",
]
