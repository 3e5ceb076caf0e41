"""Shared fixtures: a simulator of useapi.net on real loopback HTTP, and MCP clients wired to it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from frames_mcp.config import Settings
from frames_mcp.server import build_server
from frames_mcp.simulator import Simulator, SimulatorConfig, run_in_thread

# Short simulated times: a task is queued 0.1 s and runs 0.4 s, so a full generation takes about half a second.
FAST = {"queue_seconds": 0.1, "run_seconds": 0.4, "image_px": 64}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A fresh simulator per test, so faults, task counts and request logs never leak between tests."""
    simulator = Simulator(SimulatorConfig(**FAST))  # type: ignore[arg-type]
    with run_in_thread(simulator) as base_url:
        simulator.base_url = base_url  # type: ignore[attr-defined]
        yield simulator


def settings_for(sim: Simulator, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(sim.config.token),
        "base_url": sim.base_url,  # type: ignore[attr-defined]
        "wait_seconds": 10,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["auto", "legacy"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 direct dispatch ("auto") and 2025-11-25 JSON-RPC ("legacy")."""
    return str(request.param)


@pytest.fixture
async def client(sim: Simulator, mode: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings_for(sim)), mode=mode) as c:  # type: ignore[arg-type]
        yield c


def console_script() -> str:
    """The installed `frames-mcp` entry point of this environment (what a client config would run)."""
    found = Path(sys.prefix) / "bin" / "frames-mcp"
    if found.exists():
        return str(found)
    which = shutil.which("frames-mcp")
    assert which, "frames-mcp console script is not installed (run `uv sync`)"
    return which


def wire(obj: Any) -> Any:
    """What goes over the wire: camelCase JSON of an SDK object."""
    return obj.model_dump(by_alias=True, mode="json", exclude_none=True)
