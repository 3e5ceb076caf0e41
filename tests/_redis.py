"""A real redis-server for the tests (Debian's package, .ci/setup-redis.sh): on a free loopback port, with
persistence off, stopped after the test."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from ._tools import free_port, require, stop


@pytest.fixture
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed (apt-get install redis-server; .ci/setup-redis.sh)")
    assert binary is not None
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail(f"redis-server did not start on port {port}")
                    time.sleep(0.05)
            yield url
        finally:
            stop(proc)  # type: ignore[arg-type]
