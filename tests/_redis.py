"""A real Redis for the tests: Debian's redis-server (installed by .ci/setup-redis.sh), started on a free
loopback port with persistence off. Tests that claim fleet behaviour use it; nothing here is a mock.

`redis_url` gives each test an empty database of a server shared by the session (one per xdist worker);
`RedisServer` can also be started on its own (`running_redis`), for tests that stop it to see the store fail
or whose servers outlive one test (a flush would take the leases of their admission line).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from ._tools import free_port, require


class RedisServer:
    """One redis-server process on 127.0.0.1; `stop()` kills it, `start()` brings it back on the same port."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        require(binary is not None, "redis-server is missing: install Debian's redis-server (.ci/setup-redis.sh)")
        self.binary = str(binary)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited with {self.process.returncode} on port {self.port}")
            try:
                with redis.Redis(port=self.port, socket_connect_timeout=0.5) as probe:
                    probe.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        with redis.Redis(port=self.port) as r:
            r.flushall()


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A redis-server of the caller's alone, stopped at the end."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """An empty Redis for this test (the session's server, flushed)."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server of this test alone, which the test may stop and start."""
    with running_redis() as server:
        yield server
