"""Running the simulator over real HTTP: in the current event loop, in a thread, or standalone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import signal
import socket
import struct
import sys
import threading
from collections.abc import AsyncIterator, Generator
from types import TracebackType

import anyio
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from frames_mcp.simulator._app import Simulator
from frames_mcp.simulator._config import SimulatorConfig
from frames_mcp.simulator._gate import ABORT_KEY


def _abort(transport: asyncio.Transport) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), so the client sees a reset, not a clean EOF."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _ResettableH11(H11Protocol):
    """uvicorn's h11 protocol, plus a per-connection abort hook in every request's scope["state"].

    ASGI has no way to drop a connection without answering (an app that raises gets a 500). uvicorn
    copies the protocol's app_state into each scope's "state", so the hook reaches the app that way.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app_state = {**self.app_state, ABORT_KEY: functools.partial(_abort, transport)}


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever embeds it (the MCP server, pytest)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(sim: Simulator, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        sim.app,
        host=host,
        port=port,
        http=_ResettableH11,
        ws="none",
        lifespan="off",
        log_config=None,  # leave the host's logging alone; uvicorn's loggers propagate to it (stderr)
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,  # hanging read_timeout faults must not hold up shutdown
    )


def _base_url(server: uvicorn.Server, host: str) -> str:
    port = server.servers[0].sockets[0].getsockname()[1]
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - only compared, never bound
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


async def _run(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits on bind errors; a SystemExit in a task would stop the loop
        raise OSError(f"simulator failed to start on {server.config.host}:{server.config.port}") from exc


@contextlib.asynccontextmanager
async def serve(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `sim` from a task in the current (asyncio) event loop; yields its base URL."""
    server = _Server(_config(sim, host, port))
    task = asyncio.create_task(_run(server), name="frames-mcp-simulator")
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the startup error
                raise OSError("simulator stopped before it started")
            await asyncio.sleep(0.005)
        yield _base_url(server, host)
    finally:
        server.should_exit = True
        try:
            with anyio.CancelScope(shield=True):  # a cancelled host still gets a clean shutdown (<~1 s)
                await task
        except asyncio.CancelledError:
            task.cancel()
            raise


class ThreadedServer:
    """Serves a simulator from a daemon thread with its own event loop (for sync code, pytest session
    fixtures and subprocess tests). Use as a context manager yielding the base URL, or start()/stop()."""

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self.url = ""
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._thread_main, name="frames-mcp-simulator", daemon=True)

    def start(self, timeout: float = 10.0) -> str:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("simulator thread did not start in time")
        if self._error is not None:
            raise self._error
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start(); a daemon thread has nobody else to tell
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self.sim, self._host, self._port) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()


def run_in_thread(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> ThreadedServer:
    """`with run_in_thread(sim) as url:` serves `sim` from a daemon thread until the block ends."""
    return ThreadedServer(sim, host, port)


def _account(text: str) -> tuple[str, int]:
    email, _, max_jobs = text.partition("=")
    return email, int(max_jobs or 5)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m frames_mcp.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--token", default=defaults.token)
    parser.add_argument("--account", action="append", type=_account, metavar="EMAIL[=MAXJOBS]")
    parser.add_argument("--queue-seconds", type=float, default=defaults.queue_seconds)
    parser.add_argument("--run-seconds", type=float, default=defaults.run_seconds)
    parser.add_argument("--time-scale", type=float, default=defaults.time_scale)
    parser.add_argument("--image-px", type=int, default=defaults.image_px)
    return parser.parse_args(argv)


async def _serve_until_signal(sim: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    async with serve(sim, host, port) as url:
        sys.stderr.write(f"frames-mcp simulator on {url}  token: {sim.config.token}\n")
        sys.stderr.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """`python -m frames_mcp.simulator --port 8787`: run the simulator until Ctrl-C."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    config = SimulatorConfig(
        token=args.token,
        accounts=dict(args.account) if args.account else SimulatorConfig().accounts,
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        time_scale=args.time_scale,
        image_px=args.image_px,
    )
    asyncio.run(_serve_until_signal(Simulator(config), args.host, args.port))
