"""A hostile stand-in for useapi.net: a small Starlette app on loopback that answers whatever a test scripts.

The simulator is faithful to the documented shapes; this is the opposite: non-finite numbers, bodies that
drip a byte at a time or never end, JSON a thousand levels deep, undocumented statuses, 401s that echo the
Authorization header, artifact URLs pointing anywhere. Each endpoint is a callable the test replaces; the
defaults make one task that succeeds on its second poll, with PNG artifacts served from this app itself.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from frames_mcp.simulator import ThreadedServer

# The useapi token the server under test is given. No result, log line or exception may ever show it.
CANARY = "user:4242-CanaryTokenMustNeverLeak7Qz9"
EMAIL = "hostile@example.com"
API = "/v1/runwayml"


@dataclass
class Reply:
    """One scripted answer. `body` is sent as JSON (NaN and Infinity as JavaScript writes them), `raw` verbatim;
    `drip` sends it one byte per that many seconds; `stream` is an async byte source of any length."""

    body: Any = None
    status: int = 200
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drip: float | None = None
    stream: Callable[[], AsyncIterator[bytes]] | None = None
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, allow_nan=True).encode()


@dataclass
class Logged:
    method: str
    path: str  # as the app decoded it
    raw_path: str  # as it came over the wire
    headers: dict[str, str]


def task_id(uid: str, email: str = EMAIL) -> str:
    return f"user:4242-runwayml:{email}-task:{uid}"


def png(width: int = 64, height: int = 36, colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def big_png(width: int, height: int) -> bytes:
    """A valid all-black RGB PNG of any declared size, built row by row (never `width*height` bytes at once)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\x00" + bytes(width * 3)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


class Upstream:
    """The scripted upstream. Replace `on_create`, `on_task`, `on_list`, `on_upload`, `on_accounts` per test."""

    def __init__(self) -> None:
        self.base_url = ""
        self.requests: list[Logged] = []
        self.files: dict[str, tuple[bytes, str]] = {"a.png": (png(), "image/png"), "p.png": (png(32, 18), "image/png")}
        self.sent = 0  # body bytes handed to the server by streamed and dripped answers
        self.created_at = "2026-11-30T10:00:00.000Z"
        self._lock = threading.Lock()
        self.on_create: Callable[[dict[str, Any]], Reply] = self.default_create
        self.on_task: Callable[[str, int], Reply] = self.default_task
        self.on_list: Callable[[Request], Reply] = lambda _r: Reply([])
        self.on_upload: Callable[[Request], Reply] = lambda _r: Reply({"error": "not scripted"}, status=500)
        self.on_accounts: Callable[[Request], Reply] = lambda _r: Reply({EMAIL: {"email": EMAIL, "maxJobs": 5}})
        self.polls: dict[str, int] = {}
        self.uid = str(uuid.uuid4())
        self.app = Starlette(
            routes=[
                Route(f"{API}/frames/create", self._create, methods=["POST"]),
                Route(f"{API}/tasks/", self._list, methods=["GET"]),
                Route(f"{API}/tasks/{{task_id:path}}", self._task, methods=["GET"]),
                Route(f"{API}/accounts", self._accounts, methods=["GET"]),
                Route(f"{API}/accounts/{{email}}", self._accounts, methods=["GET"]),
                Route(f"{API}/assets/", self._upload, methods=["POST"]),
                Route("/files/{name}", self._file, methods=["GET"]),
            ]
        )

    # ---- what a well-behaved answer looks like (tests change pieces of it) --------------------------------

    @property
    def task_id(self) -> str:
        return task_id(self.uid)

    def url(self, name: str) -> str:
        return f"{self.base_url}/files/{name}"

    def artifact(self, i: int, *, url: str | None = None, preview: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "assetId": f"user:4242-runwayml:{EMAIL}-asset:{uuid.uuid4()}",
            "url": url or self.url("a.png"),
            "previewUrls": [preview or self.url("p.png")],
            "metadata": {"dimensions": [1920, 1088], "size": {"width": 1920, "height": 1088}},
            **extra,
        }

    def task(self, status: Any = "PENDING", **fields: Any) -> dict[str, Any]:
        """A task object as GET tasks/{taskId} answers it (the last created task unless `taskId` is given)."""
        body: dict[str, Any] = {
            "taskId": self.task_id,
            "id": self.uid,
            "createdAt": self.created_at,
            "taskType": "text_to_image",
            "options": {"text_prompt": "a heron", "seed": 7, "width": 1088, "height": 1920, "flip": True},
            "status": status,
            "error": None,
            "progressRatio": None,
            "estimatedTimeToStartSeconds": None,
            "artifacts": [],
        }
        body.update(fields)
        return body

    def succeeded(self, count: int = 4, **fields: Any) -> dict[str, Any]:
        fields.setdefault("artifacts", [self.artifact(i) for i in range(count)])
        return self.task("SUCCEEDED", progressRatio="1", **fields)

    def default_create(self, body: dict[str, Any]) -> Reply:
        """A new task per create, PENDING, with the create answer's documented extras."""
        self.uid = str(uuid.uuid4())
        options = {**body, "width": 1088, "height": 1920, "flip": True}
        return Reply(self.task("PENDING", estimatedTimeToStartSeconds=0, options=options, code=200))

    def default_task(self, tid: str, n: int) -> Reply:
        if n >= 2:
            return Reply(self.succeeded(taskId=tid))
        return Reply(self.task("RUNNING", taskId=tid, progressRatio="0.5"))

    # ---- plumbing -------------------------------------------------------------------------------------------

    def count(self, method: str, path_part: str) -> int:
        return sum(1 for r in self.requests if r.method == method and path_part in r.path)

    def _log(self, request: Request) -> None:
        raw = request.scope.get("raw_path", b"").decode("latin-1")
        with self._lock:
            self.requests.append(Logged(request.method, request.url.path, raw, dict(request.headers)))

    def respond(self, reply: Reply) -> Response:
        headers = dict(reply.headers)
        if reply.stream is not None:
            return StreamingResponse(self._counted(reply.stream()), reply.status, headers, reply.content_type)
        if reply.drip is not None:
            return StreamingResponse(
                self._counted(_drip(reply.payload(), reply.drip)), reply.status, headers, reply.content_type
            )
        return Response(reply.payload(), reply.status, headers, reply.content_type)

    async def _counted(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for piece in source:
            with self._lock:
                self.sent += len(piece)
            yield piece

    async def _create(self, request: Request) -> Response:
        self._log(request)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        return self.respond(self.on_create(body if isinstance(body, dict) else {}))

    async def _task(self, request: Request) -> Response:
        self._log(request)
        tid = request.path_params["task_id"]
        with self._lock:
            self.polls[tid] = n = self.polls.get(tid, 0) + 1
        return self.respond(self.on_task(tid, n))

    async def _list(self, request: Request) -> Response:
        self._log(request)
        return self.respond(self.on_list(request))

    async def _accounts(self, request: Request) -> Response:
        self._log(request)
        return self.respond(self.on_accounts(request))

    async def _upload(self, request: Request) -> Response:
        self._log(request)
        await request.body()
        return self.respond(self.on_upload(request))

    async def _file(self, request: Request) -> Response:
        self._log(request)
        found = self.files.get(request.path_params["name"])
        if found is None:
            return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        return Response(found[0], 200, media_type=found[1])


async def _drip(data: bytes, every: float) -> AsyncIterator[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]
        await asyncio.sleep(every)


def endless_json(total: int, piece: bytes = b"{},") -> Callable[[], AsyncIterator[bytes]]:
    """A JSON array of `total` bytes of `piece`s, produced as it is read (the test process never holds it)."""

    async def source() -> AsyncIterator[bytes]:
        block = piece * (65536 // len(piece))
        yield b"["
        sent = 1
        while sent < total:
            yield block
            sent += len(block)
            await asyncio.sleep(0)
        yield b"{}]"

    return source


@contextmanager
def serving(upstream: Upstream, stop: Callable[[ThreadedServer], None] = ThreadedServer.stop) -> Iterator[Upstream]:
    """Serve `upstream` from a daemon thread on a free loopback port (the simulator's own server runner).

    `stop` ends it when the block ends: by default it waits for uvicorn's shutdown; tests pass one that lets it
    finish in the background (tests.conftest.stop_later)."""
    server = ThreadedServer(upstream)  # type: ignore[arg-type]  # any object with an ASGI `app`
    upstream.base_url = server.start()
    try:
        yield upstream
    finally:
        stop(server)
