"""`Simulator`: the state of a simulated useapi.net and the Starlette app that serves it: the route table, the
reads of tasks, the scheduler, accounts and the control endpoints. frames/create is _create.py's part of it,
uploads, assets and downloads _assets.py's."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from frames_mcp.simulator import _tasks as t
from frames_mcp.simulator._config import Fault, LoggedRequest, SimulatorConfig
from frames_mcp.simulator._create import PLAN_CREDITS, CreateRoutes
from frames_mcp.simulator._gate import FAULT_KEY, Gate
from frames_mcp.simulator._images import RenderCache
from frames_mcp.simulator._signing import UrlSigner
from frames_mcp.simulator._validate import ApiError, bad_request, not_found
from frames_mcp.useapi.ids import TASK_ID_RE

API = "/v1/runwayml"
# Prefixes of the made-up secrets the accounts answers carry, so tests can look for any leak of them.
SIM_PASSWORD_PREFIX = "sim-password-of-"  # noqa: S105 - a fake, by design
SIM_JWT_PREFIX = "sim-jwt-of-"
STATUSES = ("PENDING", "THROTTLED", "RUNNING", "SUCCEEDED", "FAILED")
_METRICS = ("creates", "gets", "lists", "downloads", "uploads", "describes", "429s", "faults")


def _user_id(token: str) -> int:
    match = re.match(r"user:(\d+)-", token)
    return int(match.group(1)) if match else 1


def _query_int(query: QueryParams, name: str, low: int, high: int, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name} must be an integer in range {low}…{high}")
    return int(raw)


class Simulator(CreateRoutes):
    """A stand-in for useapi.net's Runway Frames API. Serve `app` with `serve()` or `run_in_thread()`.

    Requests are handled on the server's event loop. `inject`, `clear_faults`, `counts` and
    `request_log` may be used from another thread (a lock guards what they share with the loop).
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.request_log: list[LoggedRequest] = []
        self.last_create_body: dict[str, Any] | None = None  # as received, before validation
        self.user_id = _user_id(self.config.token)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._counters: Counter[tuple[str, str]] = Counter()
        self._tasks: dict[str, t.SimTask] = {}  # by task uuid, oldest first
        self._active: dict[str, list[t.SimTask]] = {email: [] for email in self.config.accounts}
        self._assets: dict[str, t.Asset] = {}  # uploads by asset uuid
        self._artifacts: dict[str, tuple[t.SimTask, int]] = {}  # artifact asset uuid -> (task, index)
        self._signer = UrlSigner(self.config.url_ttl_seconds)
        self._renders = RenderCache()
        self.app = Starlette(
            routes=self._routes(),
            middleware=[Middleware(Gate, host=self)],
            exception_handlers={ApiError: self._api_error, HTTPException: self._http_error},
        )

    # ---- introspection -----------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Add a fault; a copy is kept, so the caller's object is not used up."""
        with self._lock:
            self._faults.append(dataclasses.replace(fault))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def counts(self) -> dict[str, Any]:
        """Totals per metric, HTTP statuses seen, and per account: creates, gets, 429s, in flight now."""
        with self._lock:
            counters = dict(self._counters)
            in_flight = {email: len(self._in_flight(email)) for email in self.config.accounts}
        totals = {m: sum(n for (metric, _), n in counters.items() if metric == m) for m in _METRICS}
        per_account = {
            email: {"creates": 0, "gets": 0, "429s": 0}
            | {m: n for (m, e), n in counters.items() if e == email and m in ("creates", "gets", "429s")}
            | {"in_flight": in_flight[email]}
            for email in self.config.accounts
        }
        statuses = Counter(str(r.status) for r in list(self.request_log))
        return {"requests": len(self.request_log), **totals, "statuses": dict(statuses), "per_account": per_account}

    def task_status(self, task_id: str) -> str | None:
        """The status a GET would report now, or None for an unknown task (for tests and benchmarks)."""
        task = self._tasks.get(task_id[-36:])
        return task.phase(self.config.clock()).status if task and task.task_id == task_id else None

    def finish_time(self, task_id: str) -> float | None:
        """The `config.clock()` time the task reaches (or reached) its final status; None for an unknown or
        stuck task (for benchmarks that measure how soon a client notices)."""
        task = self._tasks.get(task_id[-36:])
        if task is None or task.task_id != task_id or task.stuck:
            return None
        return task.created + task.queue_s + (0.0 if task.outcome == "moderated" else task.run_s)

    # ---- what the gate asks ------------------------------------------------------------------------

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    self._counters["faults", ""] += 1
                    return fault
        return None

    def auth_error(self, authorization: str | None) -> tuple[int, dict[str, Any]] | None:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token not in {self.config.token, *self.config.expired_tokens}:
            return 401, {"error": "Unauthorized", "code": 401}
        if token in self.config.expired_tokens:
            return 402, {"error": "Your useapi.net subscription has expired. Please renew it.", "code": 402}
        return None

    def record(self, method: str, path: str, status: int) -> None:
        self.request_log.append(LoggedRequest(method, path, status))

    # ---- routes ------------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        return [
            Route(f"{API}/frames/create", self._create, methods=["POST"]),
            Route(f"{API}/tasks", self._list_tasks, methods=["GET"]),
            Route(f"{API}/tasks/", self._list_tasks, methods=["GET"]),
            Route(f"{API}/tasks/{{task_id:path}}", self._get_task, methods=["GET"]),
            Route(f"{API}/tasks/{{task_id:path}}", self._delete_task, methods=["DELETE"]),
            Route(f"{API}/scheduler", self._scheduler, methods=["GET"]),
            Route(f"{API}/scheduler/", self._scheduler, methods=["GET"]),
            Route(f"{API}/scheduler/{{task_id:path}}", self._untrack, methods=["DELETE"]),
            Route(f"{API}/assets", self._upload, methods=["POST"]),
            Route(f"{API}/assets/", self._upload, methods=["POST"]),
            Route(f"{API}/assets/{{asset_id:path}}", self._get_asset, methods=["GET"]),
            Route(f"{API}/assets/{{asset_id:path}}", self._delete_asset, methods=["DELETE"]),
            Route(f"{API}/frames/describe/{{asset_id:path}}", self._describe, methods=["GET"]),
            Route(f"{API}/accounts", self._accounts, methods=["GET"]),
            Route(f"{API}/accounts/", self._accounts, methods=["GET"]),
            Route(f"{API}/accounts/{{email}}", self._account, methods=["GET"]),
            Route(f"{API}/features", self._features, methods=["GET"]),
            Route(f"{API}/features/", self._features, methods=["GET"]),
            Route("/artifacts/{owner}/{filename}", self._download, methods=["GET"]),
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/_sim/faults", self._add_fault, methods=["POST"]),
            Route("/_sim/faults", self._clear_faults_route, methods=["DELETE"]),
            Route("/_sim/stats", self._stats, methods=["GET"]),
        ]

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body, exc.status, headers=exc.headers)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = "Not found." if exc.status_code == 404 else exc.detail
        return JSONResponse({"error": message, "code": exc.status_code}, exc.status_code)

    # ---- tasks -------------------------------------------------------------------------------------

    def _find_task(self, task_id: str) -> t.SimTask:
        if not TASK_ID_RE.fullmatch(task_id):
            raise bad_request(f"Invalid taskId {task_id!r}: expected user:<id>-runwayml:<email>-task:<uuid>")
        task = self._tasks.get(task_id[-36:])
        if task is None or task.task_id != task_id:
            raise not_found()
        return task

    def _task_response(self, request: Request, task: t.SimTask) -> Response:
        fault: Fault | None = request.scope.get(FAULT_KEY)
        if fault is not None:
            self._apply_task_fault(task, fault)
        self._count("gets", task.email)
        phase = task.phase(self.config.clock())
        return JSONResponse(t.task_json(task, phase, self._links(request)))

    async def _get_task(self, request: Request) -> Response:
        return self._task_response(request, self._find_task(request.path_params["task_id"]))

    async def _list_tasks(self, request: Request) -> Response:
        query = request.query_params
        if query.get("taskId"):  # the legacy form GET /tasks/?taskId=...
            return self._task_response(request, self._find_task(query["taskId"]))
        offset = _query_int(query, "offset", 0, 1000, 0)
        limit = _query_int(query, "limit", 1, 1000, 100)
        statuses = {s.strip().upper() for s in query.get("statuses", "").split(",") if s.strip()}
        if statuses - set(STATUSES):
            raise bad_request(f"statuses must be a comma-separated list of {', '.join(STATUSES)}")
        email = query.get("email") or None
        if email is not None and email not in self.config.accounts:
            raise bad_request(f"Account {email} is not configured")
        now, links = self.config.clock(), self._links(request)
        listed = [
            t.task_json(task, phase, links)
            for task in reversed(list(self._tasks.values()))
            if email in (None, task.email) and (phase := task.phase(now)).status in (statuses or STATUSES)
        ]
        self._count("lists")
        return JSONResponse(listed[offset : offset + limit])

    async def _delete_task(self, request: Request) -> Response:
        task = self._find_task(request.path_params["task_id"])
        with self._lock:
            del self._tasks[task.uuid]
            task.tracked = False  # frees its maxJobs slot
            for aid in task.artifact_uuids:
                self._artifacts.pop(aid, None)
        return JSONResponse({"success": True})

    async def _scheduler(self, request: Request) -> Response:
        now = self.config.clock()
        tracked = [x for x in self._tasks.values() if x.tracked and x.phase(now).in_flight]
        body = [{"taskId": x.task_id, "replyUrl": x.params.reply_url, "replyRef": x.params.reply_ref} for x in tracked]
        return JSONResponse(body)

    async def _untrack(self, request: Request) -> Response:
        task = self._find_task(request.path_params["task_id"])
        if not (task.tracked and task.phase(self.config.clock()).in_flight):
            raise not_found()
        task.tracked = False
        return JSONResponse({"success": True})

    # ---- accounts, health, control -----------------------------------------------------------------

    async def _accounts(self, request: Request) -> Response:
        return JSONResponse({e: self._account_body(e) for e in self.config.accounts})

    async def _account(self, request: Request) -> Response:
        email = request.path_params["email"]
        if email not in self.config.accounts:
            raise not_found()
        return JSONResponse(self._account_body(email))

    async def _features(self, request: Request) -> Response:
        """GET features/?email=: the plan's credits, permitted and used (the create answer's `features` too)."""
        email = request.query_params.get("email") or next(iter(self.config.accounts))
        if email not in self.config.accounts:
            raise not_found()
        used = self._counters["credits", email]
        return JSONResponse(
            {
                "email": email,
                "permitted": {"numPlanCredits": PLAN_CREDITS},
                "used": {"numPlanCredits": used},
                "storageGB": 500,
                "teams": [],
            }
        )

    def _account_body(self, email: str) -> dict[str, Any]:
        """As documented: the account's Runway password and session JWT come back with it (clients must
        never show or keep them; the values here are made up, and recognisable in tests)."""
        now = int(time.time())
        jwt = {"token": f"{SIM_JWT_PREFIX}{email}", "exp": now + 86_400, "iat": now, "id": 1}
        return {
            "email": email,
            "password": f"{SIM_PASSWORD_PREFIX}{email}",
            "maxJobs": self.config.accounts[email],
            "jwt": jwt,
        }

    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "simulated": True})

    async def _add_fault(self, request: Request) -> Response:
        try:
            data = await request.json()
            fault = Fault.from_json(data) if isinstance(data, dict) else None
        except (ValueError, TypeError) as exc:
            raise bad_request(f"Invalid fault: {exc}") from None
        if fault is None:
            raise bad_request("Invalid fault: expected a JSON object")
        self.inject(fault)
        return JSONResponse({"ok": True, "fault": data})

    async def _clear_faults_route(self, request: Request) -> Response:
        self.clear_faults()
        return JSONResponse({"ok": True})

    async def _stats(self, request: Request) -> Response:
        recent = [list(r) for r in self.request_log[-100:]]
        return JSONResponse({"counts": self.counts(), "recent_requests": recent})
