"""The ASGI layer in front of the routes: request log, Bearer auth and injected faults.

Faults act on the HTTP exchange, so they live here rather than in the handlers; the two task faults
(stuck_pending, no_artifacts) are handed to the handler through the scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frames_mcp.simulator._config import TASK_KINDS, Fault

ABORT_KEY = "frames_sim.abort"  # scope["state"][ABORT_KEY]: aborts this connection (set by the server)
FAULT_KEY = "frames_sim.fault"  # scope[FAULT_KEY]: a task fault for the handler to apply

_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_EXTRA_PHRASES = {596: "Runway account session is broken. Please re-add the account with POST /accounts/<email>."}


class GateHost(Protocol):
    """What the gate needs from the simulator."""

    def take_fault(self, method: str, path: str) -> Fault | None: ...
    def auth_error(self, authorization: str | None) -> tuple[int, dict[str, Any]] | None: ...
    def record(self, method: str, path: str, status: int) -> None: ...


def _is_control(path: str) -> bool:
    return path.startswith("/_sim/") or path == "/healthz"


def _needs_auth(path: str) -> bool:
    return path.startswith(("/v1/", "/_sim/"))


def default_error_body(status: int) -> dict[str, Any]:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = _EXTRA_PHRASES.get(status, f"Simulated error {status}")
    return {"error": phrase, "code": status}


async def send_body(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    await send_body(send, status, json.dumps(body).encode(), "application/json", headers)


class _Buffered:
    """A request body read up front, so the gate can watch for a disconnect and still replay the body."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._pending: list[Message] = []
        self.disconnected = False

    async def read_body(self) -> None:
        while True:
            message = await self._receive()
            self._pending.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                self.disconnected = message["type"] == "http.disconnect"
                return

    async def receive(self) -> Message:
        return self._pending.pop(0) if self._pending else await self._receive()

    async def disconnects_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True as soon as the client goes away."""
        with anyio.move_on_after(seconds):
            while not self.disconnected:
                self.disconnected = (await self._receive())["type"] == "http.disconnect"
        return self.disconnected


class _Capture:
    """Holds a response back (for read_timeout with after=True), to be sent later or never."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


async def _discard(message: Message) -> None:
    """The response of a request processed before a fault answers in its place."""


class Gate:
    def __init__(self, app: ASGIApp, host: GateHost) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _is_control(scope["path"]):
            await self._dispatch(scope, receive, send)
            return
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self.host.record(scope["method"], scope["path"], status)

        async def recording_send(message: Message) -> None:
            # Logged before the response leaves, so a client that got it always finds it in the log.
            if message["type"] == "http.response.start":
                record(message["status"])
            await send(message)

        try:
            await self._dispatch(scope, receive, recording_send)
        finally:
            record(0)  # no response was sent: a reset, or a client that left

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        fault = None if _is_control(path) else self.host.take_fault(scope["method"], path)
        if fault is None:
            await self._serve(scope, receive, send)
        elif fault.kind in TASK_KINDS:
            scope[FAULT_KEY] = fault
            await self._serve(scope, receive, send)
        elif fault.kind == "slow":  # the body is read first: the request is processed even if the client left
            body = _Buffered(receive)
            await body.read_body()
            await anyio.sleep(fault.delay)
            await self._serve(scope, body.receive, send)
        elif fault.kind == "read_timeout":
            await self._read_timeout(fault, scope, receive, send)
        else:
            if fault.after:
                await self._serve(scope, receive, _discard)
            await self._misbehave(fault, scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _needs_auth(scope["path"]):
            headers = dict(scope["headers"])
            raw = headers.get(b"authorization")
            error = self.host.auth_error(raw.decode("latin-1") if raw is not None else None)
            if error is not None:
                await send_json(send, *error)
                return
        await self.app(scope, receive, send)

    async def _read_timeout(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Hang for `delay`. A client still waiting then gets the normal answer; one that left gets
        nothing, and without `after` its request is never processed."""
        body = _Buffered(receive)
        await body.read_body()
        if fault.after:
            held = _Capture()
            await self._serve(scope, body.receive, held.send)
            if not await body.disconnects_within(fault.delay):
                await held.replay(send)
        elif not await body.disconnects_within(fault.delay):
            await self._serve(scope, body.receive, send)

    async def _misbehave(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "reset":
            await _reset(scope, receive, send)
        elif fault.kind == "malformed_json":
            await send_body(send, 200, b'{"taskId": ', "application/json", fault.headers)
        elif fault.kind == "html":
            await send_body(send, fault.status or 502, _HTML_PAGE, "text/html; charset=utf-8", fault.headers)
        else:
            status = fault.status or 500
            body = default_error_body(status) if fault.body is None else fault.body
            if isinstance(body, str):
                await send_body(send, status, body.encode(), "text/plain; charset=utf-8", fault.headers)
            else:
                await send_json(send, status, body, fault.headers)


async def _reset(scope: Scope, receive: Receive, send: Send) -> None:
    """Drop the connection without a response. Under `serve()`/`run_in_thread()` the server puts an abort
    hook in the scope state that sends a TCP RST; elsewhere the best ASGI can do is start a response and
    never finish it, which the server turns into a closed connection."""
    abort: Callable[[], None] | None = scope.get("state", {}).get(ABORT_KEY)
    if abort is None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]})
        return
    abort()
    # Returning before the server notices the closed transport would make it log a missing response.
    with anyio.move_on_after(2.0):
        while (await receive())["type"] != "http.disconnect":
            pass
