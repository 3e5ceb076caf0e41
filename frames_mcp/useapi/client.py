"""An async client for the parts of useapi.net's Runway v1 API that Frames needs. Knows nothing of MCP.

Retry policy, because frames/create has no idempotency key and a blind retry pays twice:
- create is retried only when it provably did not run: a 429 answer, or a connection that failed
  before the request was sent;
- reads (GET) are retried on 5xx answers and on transport errors.

Every method takes an optional `deadline` (a `clock()` time): no request outlives it (each one gets an
httpx2 timeout cut to the time left) and no retry or backoff sleeps past it. How a request travels (the token,
the timeouts, the caps, the error mapping, the read retries and the 429 backoff) is exchange.py's; here are the
endpoints: their paths, their parameters, create's retry loop and how each answer is read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import quote

import anyio
from pydantic import ValidationError

from frames_mcp.useapi.errors import (
    BadRequestError,
    BusyError,
    InvalidResponseError,
    NotFoundError,
    TransportError,
    UseapiError,
)
from frames_mcp.useapi.exchange import Exchange, RetryPolicy
from frames_mcp.useapi.ids import ASSET_ID_MAX, ASSET_ID_RE, TASK_ID_RE
from frames_mcp.useapi.models import Asset, FramesRequest, Task

log = logging.getLogger(__name__)

API_PREFIX = "/v1/runwayml"


def task_path(task_id: str) -> str:
    """The tasks/{taskId} path, for a taskId of the documented form only.

    `:` and `@` stay as they are (useapi's own clients send them raw); anything else that is not
    unreserved is escaped, `%` included (`a%2Fb` must reach useapi as itself, not as `a/b`), so no value
    can climb to another endpoint.
    """
    if not TASK_ID_RE.fullmatch(task_id):
        raise BadRequestError(
            "That is not a taskId of the documented form user:<digits>-runwayml:<email>-task:<uuid>.",
            status_code=400,
            hint="Pass the taskId exactly as generate_frames or list_tasks returned it.",
        )
    return f"{API_PREFIX}/tasks/{quote(task_id, safe=':@-._~+')}"


def asset_path(endpoint: str, asset_id: str) -> str:
    """`endpoint`/{assetId}, for an assetId that is one safe path segment (it is otherwise opaque)."""
    if len(asset_id) > ASSET_ID_MAX or not ASSET_ID_RE.fullmatch(asset_id):
        raise BadRequestError(
            "That is not an assetId: expected one path segment of letters, digits and . _ : @ + -.",
            status_code=400,
            hint="Pass the assetId exactly as upload_image or a task's artifacts returned it.",
        )
    return f"{API_PREFIX}/{endpoint}/{asset_id}"


# A NamedTuple, not a frozen dataclass: the class is made at every start, and a dataclass costs 4x as much to make.
class AccountSummary(NamedTuple):
    """What may be shown of a configured Runway account: never its password or JWT."""

    email: str
    max_jobs: int | None
    problem: str  # the account's own error as useapi reports it, "" when none


class UseapiClient(Exchange):
    """useapi.net Runway v1: one method an endpoint, each over `Exchange`'s requests (made with the shared
    httpx2.AsyncClient, the token and the retry policy it is given)."""

    def __repr__(self) -> str:
        return f"UseapiClient(base_url={str(self._http.base_url)!r})"

    # ---- endpoints ----------------------------------------------------------------------------------

    async def create_frames(
        self,
        request: FramesRequest,
        *,
        deadline: float | None = None,
        retry_until: float | None = None,
        on_busy: Callable[[BusyError, float], Awaitable[None]] | None = None,
    ) -> Task:
        """POST frames/create. A 429 is retried with backoff while `retry_until` allows; nothing else is.

        The backoff honours Retry-After within [retry_after_min, retry_after_max] (with a little jitter);
        without it the documented 10-30 s are drawn at random and cut to fit. At most `create_attempts` POSTs
        are sent; when no retry fits before `retry_until` the BusyError is raised: no task was created. Each
        POST is shielded from cancellation, so a create already sent returns its task to the caller (who
        records it) even when the call is being cancelled, but never outlives `deadline`.
        `deadline` bounds each request; `retry_until` (default: `deadline`) bounds the retries.
        """
        body = request.body()
        retry_until = deadline if retry_until is None else retry_until
        for attempt in range(1, self.retry.create_attempts + 1):
            last = attempt == self.retry.create_attempts
            try:
                with anyio.CancelScope(shield=True):
                    data = await self._send(
                        "POST",
                        f"{API_PREFIX}/frames/create",
                        limit=self.retry.create_timeout,
                        deadline=deadline,
                        json=body,
                    )
            except BusyError as busy:
                delay = None if last else self.busy_delay(busy, retry_until)
                if delay is None:
                    raise
                log.info("frames/create: account busy (429), retrying in %.1fs", delay)
                if on_busy is not None:
                    await on_busy(busy, delay)
                await self._sleep(delay)
                continue
            except TransportError as e:
                # Retry only a request that never left: then useapi cannot have started a task.
                if last or e.sent or retry_until is None or self._clock() + 1.0 >= retry_until:
                    raise
                log.info("frames/create: connection failed before sending, retrying")
                await self._sleep(1.0)
                continue
            return self._task(data)
        raise AssertionError("unreachable")

    async def get_task(self, task_id: str, *, deadline: float | None = None) -> Task:
        return self._task(await self._read("GET", task_path(task_id), deadline=deadline))

    async def account_max_jobs(self, email: str | None, *, deadline: float | None = None) -> int | None:
        """The maxJobs configured for an account at useapi (GET accounts/{email}); with no email, the sum
        over every usable account (useapi then picks one with a free slot). None when unknown."""
        path = f"{API_PREFIX}/accounts/{quote(email, safe='@')}" if email else f"{API_PREFIX}/accounts"
        data = await self._read("GET", path, deadline=deadline)
        # The answer also holds each account's password and session token: only maxJobs is kept.
        accounts = [data] if email else list(data.values()) if isinstance(data, dict) else []
        limits = [
            a["maxJobs"]
            for a in accounts
            if isinstance(a, dict) and isinstance(a.get("maxJobs"), int) and a["maxJobs"] > 0 and not a.get("error")
        ]
        return sum(limits) if limits else None

    async def accounts(self, *, deadline: float | None = None) -> list[AccountSummary]:
        """GET accounts: each configured Runway account's email, maxJobs and error. The answer also holds each
        account's password and session token (JWT): nothing of them is kept or returned."""
        data = await self._read("GET", f"{API_PREFIX}/accounts", deadline=deadline)
        if not isinstance(data, dict):
            raise InvalidResponseError("The accounts answer is not a map of accounts.", status_code=200)
        found = []
        for key, account in data.items():
            if not isinstance(account, dict):
                continue
            email = str(account["email"]) if isinstance(account.get("email"), str) else str(key)
            max_jobs = account.get("maxJobs")
            error = account.get("error")
            problem = (error if isinstance(error, str) else "useapi.net reports an error") if error else None
            found.append(
                AccountSummary(email[:254], max_jobs if isinstance(max_jobs, int) else None, (problem or "")[:200])
            )
        return found

    async def credits(self, email: str, *, deadline: float | None = None) -> tuple[int, int] | None:
        """GET features/?email=: (used, permitted) plan credits, or None when useapi does not say."""
        try:
            data = await self._read("GET", f"{API_PREFIX}/features/", params={"email": email}, deadline=deadline)
        except (NotFoundError, BadRequestError):
            return None
        used = data.get("used", {}).get("numPlanCredits") if isinstance(data, dict) else None
        permitted = data.get("permitted", {}).get("numPlanCredits") if isinstance(data, dict) else None
        numbers = all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (used, permitted))
        return (used, permitted) if numbers else None  # type: ignore[return-value]

    async def list_tasks(
        self,
        *,
        offset: int = 0,
        limit: int = 20,
        statuses: list[str] | None = None,
        email: str | None = None,
        deadline: float | None = None,
    ) -> list[Task]:
        params: dict[str, str | int] = {"offset": offset, "limit": limit}
        if statuses:
            params["statuses"] = ",".join(statuses)
        if email:
            params["email"] = email
        data = await self._read(
            "GET", f"{API_PREFIX}/tasks/", params=params, deadline=deadline, max_bytes=self.retry.list_max_bytes
        )
        # The list's body is documented nowhere: a bare array (what useapi's scripts read) or {tasks|items: [...]}.
        # Any other shape is an error that says so, never "no tasks" (recovery would call that safe to retry).
        items = data.get("tasks", data.get("items")) if isinstance(data, dict) else data
        if not isinstance(items, list):
            shape = (
                f"an object with keys {', '.join(sorted(map(str, data))[:6])}"
                if isinstance(data, dict)
                else type(data).__name__
            )
            raise InvalidResponseError(
                f"The account's task list came in a shape this server does not know ({shape[:120]}), so it could "
                "not be read.",
                status_code=200,
            )
        return [self._task(item) for item in items if isinstance(item, dict)]

    async def upload_asset(self, data: bytes, content_type: str, *, name: str, email: str | None) -> Asset:
        """POST assets/?name=&email= with the raw image as the body. Sent once: a POST is never retried
        blindly (here a repeat would only make a second asset, but the rule stays simple)."""
        params = {"name": name} | ({"email": email} if email else {})
        answer = await self._send(
            "POST",
            f"{API_PREFIX}/assets/",
            limit=self.retry.create_timeout,
            content=data,
            headers={"Content-Type": content_type},
            params=params,
        )
        try:
            asset = Asset.model_validate(answer)
        except ValidationError:
            asset = Asset()
        asset_id = asset.assetId or asset.id  # S13 reads assetId, falling back to id
        if not asset_id:
            raise InvalidResponseError("The upload answer has no assetId.", status_code=200)
        return asset.model_copy(update={"assetId": asset_id})

    async def describe(self, asset_id: str) -> str:
        """GET frames/describe/{assetId}: a starting prompt written from the image."""
        try:
            answer = await self._read("GET", asset_path("frames/describe", asset_id))
        except NotFoundError as e:
            raise NotFoundError(
                e.message, status_code=404, body=e.body, hint="No such asset: upload the image with upload_image first."
            ) from None
        prompt = answer.get("prompt") if isinstance(answer, dict) else None
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidResponseError("The describe answer has no prompt.", status_code=200)
        return prompt

    # ---- plumbing -----------------------------------------------------------------------------------

    @staticmethod
    def _task(data: Any) -> Task:
        try:
            return Task.model_validate(data)
        except (ValidationError, RecursionError):
            raise InvalidResponseError("The answer is not a task: it has no taskId.", status_code=200) from None


__all__ = ["RetryPolicy", "UseapiClient", "UseapiError", "asset_path", "task_path"]
