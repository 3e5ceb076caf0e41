"""The simulator's frames/create: which account runs a create, the outcomes decided at create (the magic words,
a 429 when the account's tasks in flight reach maxJobs), and the task registered and charged; and the faults
that change a task itself, on create or on a read. A part of `Simulator` (see _app.py), on its state; it does
not import _app.py.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from frames_mcp.simulator import _tasks as t
from frames_mcp.simulator._assets import AssetRoutes
from frames_mcp.simulator._config import Fault
from frames_mcp.simulator._curves import curve, curve_in
from frames_mcp.simulator._gate import FAULT_KEY
from frames_mcp.simulator._validate import ApiError, CreateParams, bad_request, parse_create
from frames_mcp.useapi.models import SEED_MAX

PLAN_CREDITS = 100_000  # every simulated account's plan
NO_CREDITS_BODY = {"error": "You do not have enough credits to run this task."}
RUNWAY_BUSY_BODY = {
    "error": "You have too many tasks running or pending. Please wait for some of them to finish before starting more."
}
CREDITS_PER_IMAGE = 5


async def _fields(request: Request) -> dict[str, Any]:
    """The create body as a dict: JSON, or form fields (all strings) for multipart/urlencoded."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        async with request.form() as form:
            if any(not isinstance(v, str) for v in form.values()):
                raise bad_request("Form fields must be text; upload images with POST /assets first")
            return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        data = await request.json()
    except ValueError:
        raise bad_request("Request body must be JSON or multipart/form-data") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object")
    return data


class CreateRoutes(AssetRoutes):
    """frames/create over `Simulator`'s state (a create's references are its assets, hence the base)."""

    last_create_body: dict[str, Any] | None
    _active: dict[str, list[t.SimTask]]

    # ---- frames/create -----------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        self.last_create_body = await _fields(request)
        params = parse_create(self.last_create_body)
        with self._lock:
            task = self._admit(params)
        fault: Fault | None = request.scope.get(FAULT_KEY)
        if fault is not None:
            self._apply_task_fault(task, fault)
        self._count("creates", task.email)
        body = t.task_json(task, task.phase(task.created), self._links(request))
        used = self._counters["credits", task.email]
        body["features"] = {"storageGB": 500, "numPlanCredits_permitted": PLAN_CREDITS, "numPlanCredits_used": used}
        body["code"] = 200
        return JSONResponse(body)

    def _admit(self, params: CreateParams) -> t.SimTask:
        """Pick the account, apply the create-time outcomes, and register the task. Holds the lock."""
        email = self._account_for(params)
        prompt = params.text_prompt
        if t.has_magic(prompt, t.MODERATE_CREATE):
            raise ApiError(422, {"error": "Your prompt was flagged by Runway's content moderation.", "code": 422})
        if t.has_magic(prompt, t.NO_CREDITS):
            raise ApiError(412, dict(NO_CREDITS_BODY))
        if t.has_magic(prompt, t.BUSY):
            self._counters["429s", email] += 1
            raise ApiError(429, dict(RUNWAY_BUSY_BODY))
        limit = params.max_jobs or self.config.accounts[email]
        running = self._in_flight(email)
        if len(running) >= limit:
            self._counters["429s", email] += 1
            raise ApiError(429, self._busy_body(email, running))
        return self._register(email, params)

    def _account_for(self, params: CreateParams) -> str:
        owners = {self._asset_owner(n, a) for n, a in enumerate(params.asset_ids, start=1)}
        if len(owners) > 1:
            raise bad_request("imageAssetId1..3 belong to different accounts; use assets of one account")
        if params.email is not None:
            if params.email not in self.config.accounts:
                raise bad_request(f"Account {params.email} is not configured. Add it with POST /accounts")
            if owners and params.email not in owners:
                raise bad_request(f"The referenced assets belong to {owners.pop()}, not to {params.email}")
            return params.email
        if owners:
            return owners.pop()
        for email, max_jobs in self.config.accounts.items():
            if len(self._in_flight(email)) < (params.max_jobs or max_jobs):
                return email
        return next(iter(self.config.accounts))  # every account is busy: its 429 follows

    def _asset_owner(self, n: int, asset_id: str) -> str:
        found = self._find_asset(asset_id)
        if found is None:
            raise bad_request(f"imageAssetId{n} {asset_id} not found")
        return found.email if isinstance(found, t.Asset) else found[0].email

    def _in_flight(self, email: str) -> list[t.SimTask]:
        """The account's tasks holding a maxJobs slot; finished ones are dropped from the list."""
        now = self.config.clock()
        active = [x for x in self._active[email] if x.tracked and x.phase(now).in_flight]
        self._active[email] = active
        return active

    def _busy_body(self, email: str, running: list[t.SimTask]) -> dict[str, Any]:
        listed = [
            {"email": email, "taskId": x.task_id, "id": x.uuid, "replyUrl": x.params.reply_url,
             "replyRef": x.params.reply_ref}
            for x in running
        ]  # fmt: skip
        return {
            "error": f"Account {email} is busy executing {len(running)} tasks",
            "runningTasks": {email: listed},
            "code": 429,
        }

    def _register(self, email: str, params: CreateParams) -> t.SimTask:
        cfg, prompt = self.config, params.text_prompt
        factor = t.SLOW_FACTOR if t.has_magic(prompt, t.SLOW) else 1.0
        moderated, failing = t.has_magic(prompt, t.MODERATED), t.has_magic(prompt, t.FAIL)
        seed = params.seed or secrets.randbelow(SEED_MAX) + 1
        task = t.SimTask(
            uuid=str(uuid.uuid4()),
            user_id=self.user_id,
            email=email,
            params=params,
            seed=seed,
            created=cfg.clock(),
            created_wall=time.time(),
            queue_s=cfg.real(cfg.queue_seconds * factor),
            run_s=cfg.real(cfg.run_seconds * factor),
            outcome="moderated" if moderated else "fail" if failing else "succeed",
            queue_status="THROTTLED" if t.has_magic(prompt, t.THROTTLED) else "PENDING",
            artifact_uuids=tuple(str(uuid.uuid4()) for _ in range(params.num_images)),
            curve=curve(curve_in(prompt) or cfg.progress_curve, seed),
        )

        self._tasks[task.uuid] = task
        self._active[email].append(task)
        if not params.explore_mode:  # Explore mode is not charged
            self._counters["credits", email] += CREDITS_PER_IMAGE * params.num_images
        self._artifacts.update((aid, (task, i)) for i, aid in enumerate(task.artifact_uuids))
        return task

    def _apply_task_fault(self, task: t.SimTask, fault: Fault) -> None:
        if fault.kind == "stuck_pending":
            with self._lock:
                task.stuck = True
                if task not in self._active[task.email]:
                    self._active[task.email].append(task)
        elif fault.kind == "no_artifacts":
            task.no_artifacts = True
