"""Virtual time for tests of timing rules: the event loop's clock jumps ahead whenever every task waits.

Tests that use it run on anyio's trio backend with trio's MockClock (autojump): a 50 s budget with
real-sized timeouts passes in milliseconds, and the times a test reads are exact. The code under test
is anyio-only, so it behaves the same on either backend. Such tests must not touch real sockets or
threads (the clock would jump while those work): the simulator is called in-process instead, through
`InProcess`, which honours each request's timeout the way a socket read does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import trio.testing
from pydantic import SecretStr

from frames_mcp.simulator import Simulator, SimulatorConfig
from frames_mcp.useapi.client import RetryPolicy, UseapiClient

now = anyio.current_time  # the virtual clock, for the code under test and for the test itself


def virtual_backend() -> tuple[str, dict[str, Any]]:
    """An `anyio_backend` value: trio with a clock that jumps to the next timer when all tasks wait."""
    return "trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}


@dataclass(frozen=True)
class Sent:
    """One request as it left the client."""

    at: float  # virtual time it was sent
    method: str
    path: str
    timeout: float  # the read timeout the client gave it

    @property
    def gives_up_at(self) -> float:
        return self.at + self.timeout


class InProcess(httpx2.AsyncBaseTransport):
    """The simulator's ASGI app, called in this event loop. Like a socket, a request that is not answered
    within its read timeout fails with ReadTimeout; every request is logged in `sent`."""

    def __init__(self, sim: Simulator) -> None:
        self._asgi = httpx2.ASGITransport(app=sim.app)
        self.sent: list[Sent] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions["timeout"]["read"]
        self.sent.append(Sent(now(), request.method, request.url.path, timeout))
        try:
            with anyio.fail_after(timeout):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx2.ReadTimeout("no answer within the read timeout", request=request) from None


@dataclass
class Upstream:
    sim: Simulator
    client: UseapiClient
    transport: InProcess

    @property
    def sent(self) -> list[Sent]:
        return self.transport.sent


@asynccontextmanager
async def in_process(retry: RetryPolicy | None = None, **config: Any) -> AsyncIterator[Upstream]:
    """A simulator on the virtual clock and a real UseapiClient wired to it (real-sized timeouts unless
    `retry` says otherwise)."""
    sim = Simulator(SimulatorConfig(clock=now, **config))
    transport = InProcess(sim)
    async with httpx2.AsyncClient(transport=transport, base_url="http://useapi.test") as http:
        client = UseapiClient(http, SecretStr(sim.config.token), retry=retry, clock=now)
        yield Upstream(sim, client, transport)
