"""One process's connection to useapi.net: the API client, the downloads client and the jobs service, or, in
demo mode, the same against a built-in simulator. The MCP server's lifespan and the terminal commands
(`frames-mcp doctor`, `frames-mcp generate`) both open it, so both run generations the same way. No MCP here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import NamedTuple

import anyio
import httpx2
from pydantic import SecretStr

from frames_mcp import __version__
from frames_mcp.config import Settings
from frames_mcp.jobs.ledger import Ledger
from frames_mcp.jobs.service import Jobs, Tuning
from frames_mcp.store import Store, open_store, slots
from frames_mcp.store.opening import OpeningStore
from frames_mcp.useapi.client import UseapiClient
from frames_mcp.useapi.transport import LazyTransport

log = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


# A NamedTuple, not a frozen dataclass: the class is made at every start, and a dataclass costs 4x as much to make.
class Session(NamedTuple):
    client: UseapiClient
    downloads: httpx2.AsyncClient  # artifact and upload URLs: no base URL, no token, redirects by hand
    jobs: Jobs
    base_url: str  # where useapi (or the simulator) answers
    store: Store  # where the ledger keeps its records (and the server its MCP task handles)


@asynccontextmanager
async def open_session(
    settings: Settings, tuning: Tuning | None = None, ledger: Ledger | None = None, *, store: Store | None = None
) -> AsyncIterator[Session]:
    """`store`: one opened already (an HTTP server's command line opens it first, to refuse a bad one before
    serving), or an OpeningStore (a stdio server's), opened here beside the serving and closed at the end;
    without it settings.store_url is opened here, and closed again at the end."""
    tuning = tuning or Tuning()
    ledger = ledger or Ledger(rest=tuning.store_rest)
    async with AsyncExitStack() as stack:
        base_url, token = settings.base_url, settings.token
        if settings.demo:
            from frames_mcp import simulator  # only demo mode pays for importing it

            sim = simulator.Simulator()
            base_url = await stack.enter_async_context(simulator.serve(sim))
            token = SecretStr(sim.config.token)
            # Simulated runs take seconds, not the 8-60 s the poll schedule's prior expects of Frames.
            run = sim.config.run_seconds
            tuning = replace(tuning, schedule=replace(tuning.schedule, shortest=run / 2, longest=run * 5))
            log.warning("demo mode: simulated useapi.net at %s; images are placeholders", base_url)
        headers = {"User-Agent": f"frames-mcp/{__version__}"}
        http = await stack.enter_async_context(
            httpx2.AsyncClient(base_url=base_url, timeout=HTTP_TIMEOUT, headers=headers, transport=LazyTransport())
        )
        downloads = await stack.enter_async_context(
            httpx2.AsyncClient(timeout=HTTP_TIMEOUT, headers=headers, transport=LazyTransport())
        )
        client = UseapiClient(http, token, retry=tuning.retry)
        if store is None:
            store = open_store(settings.store_url)
            stack.push_async_callback(store.close)
        elif isinstance(store, OpeningStore):  # opened beside the serving; waited for (and closed) last at the end
            await stack.enter_async_context(store.opening())
        ledger.use(store.records, upstream=base_url)  # every task this install creates is kept there
        line = slots.attach(store, settings.lease_seconds)  # the account's line, shared through the store
        jobs = Jobs(client, tuning, ledger=ledger, slots=line)
        # The run durations that set the poll schedule's window, shared by every process of the store, per upstream;
        # one rest after a store failure for both.
        jobs.durations.use(store.records, base_url, ledger.guard)
        # Runs seen finishing are written in the background (off the results' path); what is left, at the end,
        # after the background work and before the store closes.
        stack.push_async_callback(jobs.durations.flush)
        # The lease on this process's places and slots in the line is renewed for as long as the session lasts.
        background = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(background.cancel_scope.cancel)  # nothing waits on it at the end
        stack.callback(jobs.durations.write_in, None)  # runs first at the end
        jobs.durations.write_in(background)
        background.start_soon(slots.keep_renewed, line, jobs.admission.retry_releases)
        yield Session(client, downloads, jobs, base_url, store)
