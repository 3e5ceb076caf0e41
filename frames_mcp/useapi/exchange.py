"""How one request to useapi.net travels, whatever the endpoint: the token added (and taken out of the answer),
a timeout cut to the caller's deadline, the answer capped in size, read as JSON and mapped to an error; and the
retry rules every endpoint shares (a read retried on 5xx, transport errors and garbled answers; the backoff
after a 429). The endpoints themselves, their paths and answer shapes, are client.py's.

On httpx2 and the rest of useapi only: nothing of mcp, of the other packages of frames_mcp, or of client.py,
which builds on it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
from pydantic import SecretStr

from frames_mcp.useapi.answers import parse_json, retry_after_seconds, too_large
from frames_mcp.useapi.errors import (
    BusyError,
    InvalidResponseError,
    MissingTokenError,
    TransportError,
    UpstreamError,
    error_for_status,
)

log = logging.getLogger(__name__)


class _BearerAuth(httpx2.Auth):
    """Adds the token per request; its repr never shows it."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(token='**********')"

    def redact(self, body: bytes) -> bytes:
        """`body` with the token taken out, as sent or URL-encoded: an upstream that echoes the Authorization
        header (a 401 body, an error message) must not carry it into a result, a log line or the ledger."""
        secret = self._token.get_secret_value()
        if not secret:
            return body
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            body = body.replace(form.encode(), b"[redacted token]")
        return body


@dataclass(frozen=True)
class RetryPolicy:
    read_attempts: int = 3  # a GET is tried at most this often
    read_backoff: float = 0.5  # seconds, doubled each time, with jitter
    busy_min: float = 10.0  # the docs: "wait in a loop for at least 10..30 seconds and retry again"
    busy_max: float = 30.0
    busy_floor: float = 1.0  # a 429 backoff cut shorter than this to fit the deadline is not worth a retry
    create_timeout: float = 30.0  # one POST frames/create, at most
    read_timeout: float = 10.0  # one GET, at most: a slower answer is retried (reads have no side effect)
    # Retry-After is honoured within these bounds: 0, negative or NaN once sent 1,400 POSTs in 4 s.
    retry_after_min: float = 2.0
    retry_after_max: float = 60.0
    create_attempts: int = 6  # POSTs of frames/create per call, at most (every one answered 429 or never sent)
    answer_max_bytes: int = 512 * 1024  # a task answer is a few KB: anything far larger is not one
    list_max_bytes: int = 8 * 1024 * 1024  # GET tasks/ (up to 100 tasks here)
    max_depth: int = 32  # JSON nesting: a task is about 5 levels deep


def _timeout(limit: float, deadline: float | None, now: float) -> float:
    """Seconds a request may take: at most `limit`, cut to what is left before `deadline`."""
    seconds = limit if deadline is None else min(limit, deadline - now)
    return max(seconds, 0.05)


class Exchange:
    """Requests to useapi over one shared httpx2.AsyncClient (made and closed by the caller), under one retry
    policy. `clock` is what deadlines are read against; `sleep` waits out a retry's backoff."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        token: SecretStr | None,
        *,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._http = http
        self._auth = _BearerAuth(token) if token is not None else None
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep

    @property
    def base_url(self) -> str:
        """Where useapi is (the simulator's address in demo mode)."""
        return str(self._http.base_url)

    @property
    def has_token(self) -> bool:
        return self._auth is not None

    def busy_delay(self, busy: BusyError, until: float | None) -> float | None:
        """Seconds to back off after a 429, or None when no retry fits before `until`.

        Retry-After is honoured within [retry_after_min, retry_after_max] (plus up to 10% jitter) and never
        cut; the documented 10-30 s are drawn at random and cut to leave a second for the retry itself.
        """
        if until is None:
            return None
        left = until - self._clock()
        if busy.retry_after is not None:
            wait = min(max(busy.retry_after, self.retry.retry_after_min), self.retry.retry_after_max)
            delay = wait * random.uniform(1.0, 1.1)  # noqa: S311 - jitter, not crypto
            return delay if delay + self.retry.busy_floor <= left else None
        delay = min(random.uniform(self.retry.busy_min, self.retry.busy_max), left - 1.0)  # noqa: S311
        return delay if delay >= self.retry.busy_floor else None

    async def _read(self, method: str, path: str, *, deadline: float | None = None, **kwargs: Any) -> Any:
        """A request with no side effect: retried on 5xx, transport errors and garbled answers, within
        the deadline."""
        delay = self.retry.read_backoff
        for attempt in range(1, self.retry.read_attempts + 1):
            try:
                return await self._send(method, path, limit=self.retry.read_timeout, deadline=deadline, **kwargs)
            except (UpstreamError, TransportError, InvalidResponseError) as e:
                pause = delay * random.uniform(0.8, 1.2)  # noqa: S311
                out_of_time = deadline is not None and self._clock() + pause + 0.1 >= deadline
                if attempt == self.retry.read_attempts or out_of_time:
                    raise
                log.info("%s %s failed (%s), retry %d", method, path.split("/tasks/")[0], type(e).__name__, attempt)
                await self._sleep(pause)
                delay *= 2
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        limit: float,
        deadline: float | None = None,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request, whole: connect, send and the entire answer within `limit` seconds cut to `deadline` (a
        body that drips a byte at a time is cut too), the answer capped at `max_bytes` and read as JSON, and
        the token taken out of it before anything keeps, logs or shows it."""
        if self._auth is None:
            raise MissingTokenError()
        seconds = _timeout(limit, deadline, self._clock())
        cap = max_bytes or self.retry.answer_max_bytes
        with anyio.move_on_after(seconds) as scope:
            status, retry_after, body = await self._stream(method, path, seconds, cap, **kwargs)
        if scope.cancelled_caught:
            raise TransportError(
                f"useapi.net did not answer in time (no whole answer within {seconds:.0f} s).", sent=True
            )
        data = parse_json(self._auth.redact(body), self.retry.max_depth)
        if status >= 400:
            raise error_for_status(status, data, retry_after)
        if data is None:
            raise InvalidResponseError("The answer is not readable JSON.", status_code=status)
        return data

    async def _stream(
        self, method: str, path: str, seconds: float, cap: int, **kwargs: Any
    ) -> tuple[int, float | None, bytes]:
        """(status, Retry-After, body) of one request; the body is refused as soon as it outgrows `cap`."""
        assert self._auth is not None
        try:
            async with self._http.stream(
                method, path, auth=self._auth, timeout=httpx2.Timeout(seconds), **kwargs
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > cap:
                    raise too_large(response.status_code, cap)
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise too_large(response.status_code, cap)
                    chunks.append(chunk)
                return response.status_code, retry_after_seconds(response), b"".join(chunks)
        except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout) as e:
            raise TransportError(f"Could not connect to useapi.net ({type(e).__name__}).", sent=False) from None
        except httpx2.TimeoutException as e:
            raise TransportError(f"useapi.net did not answer in time ({type(e).__name__}).", sent=True) from None
        except httpx2.TransportError as e:
            raise TransportError(f"The connection to useapi.net failed ({type(e).__name__}).", sent=True) from None
