"""The simulator's uploads, assets, describe and artifact downloads: a part of `Simulator` (see _app.py)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from frames_mcp.simulator import _tasks as t
from frames_mcp.simulator._config import SimulatorConfig
from frames_mcp.simulator._images import UPLOAD_FORMATS, RenderCache, describe, preview_of, sniff
from frames_mcp.simulator._signing import UrlSigner
from frames_mcp.simulator._validate import bad_request, not_found
from frames_mcp.useapi.ids import UUID_PATTERN

_UUID_TAIL = re.compile(f"({UUID_PATTERN})$")
_TASK_FILE = re.compile(r"(\d)(_preview)?\.(png|jpg)")
_CDN_ERROR = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{msg}</Message></Error>'


def _cdn_error(status: int, code: str, message: str) -> Response:
    """CloudFront answers file errors in XML, not in useapi's JSON."""
    return Response(_CDN_ERROR.format(code=code, msg=message), status, media_type="application/xml")


class AssetRoutes:
    """Routes over the simulator's uploads and the files of its tasks. The state is `Simulator`'s own."""

    config: SimulatorConfig
    user_id: int
    _lock: threading.Lock
    _counters: Counter[tuple[str, str]]
    _tasks: dict[str, t.SimTask]
    _assets: dict[str, t.Asset]
    _artifacts: dict[str, tuple[t.SimTask, int]]
    _signer: UrlSigner
    _renders: RenderCache

    def _links(self, request: Request) -> t.Links:
        return t.Links(str(request.base_url), self._signer)

    def _count(self, metric: str, email: str = "") -> None:
        with self._lock:
            self._counters[metric, email] += 1

    # ---- assets ------------------------------------------------------------------------------------

    def _find_asset(self, asset_id: str) -> t.Asset | tuple[t.SimTask, int] | None:
        """An upload, or the artifact of a task that has SUCCEEDED, by any id ending in its uuid."""
        match = _UUID_TAIL.search(asset_id)
        key = match.group(1).lower() if match else ""
        if key in self._assets:
            return self._assets[key]
        found = self._artifacts.get(key)
        if found is None or not found[0].artifacts_visible(found[0].phase(self.config.clock())):
            return None
        return found

    def _upload_account(self, email: str | None) -> str:
        if email is None:
            if len(self.config.accounts) > 1:
                raise bad_request("email is required when more than one account is configured")
            return next(iter(self.config.accounts))
        if email not in self.config.accounts:
            raise bad_request(f"Account {email} is not configured")
        return email

    async def _read_capped(self, request: Request) -> bytes:
        cap = self.config.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise bad_request(f"File is too large: maximum {cap} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise bad_request(f"File is too large: maximum {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _upload(self, request: Request) -> Response:
        name = request.query_params.get("name")
        if not name:
            raise bad_request("Query parameter name is required")
        email = self._upload_account(request.query_params.get("email") or None)
        mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if mime not in UPLOAD_FORMATS:
            raise bad_request(f"Content-Type {mime or '(none)'} is not supported: use {', '.join(UPLOAD_FORMATS)}")
        data = await self._read_capped(request)
        size = sniff(data, mime)
        if size is None:
            raise bad_request(f"The request body is not a valid {mime} image")
        asset = t.Asset(str(uuid.uuid4()), self.user_id, email, name, mime, data, *size, time.time())
        with self._lock:
            self._assets[asset.uuid] = asset
        self._count("uploads", email)
        return JSONResponse(t.asset_json(asset, self._links(request)))

    def _asset_or_404(self, asset_id: str) -> t.Asset | tuple[t.SimTask, int]:
        found = self._find_asset(asset_id)
        if found is None:
            raise not_found()
        return found

    async def _get_asset(self, request: Request) -> Response:
        found = self._asset_or_404(request.path_params["asset_id"])
        links = self._links(request)
        if isinstance(found, t.Asset):
            return JSONResponse(t.asset_read_json(found, links))
        task, index = found
        return JSONResponse(t.artifact_json(task, index, links) | {"name": f"{task.name} ({index + 1})"})

    async def _delete_asset(self, request: Request) -> Response:
        found = self._asset_or_404(request.path_params["asset_id"])
        if not isinstance(found, t.Asset):
            raise bad_request("Generated images are removed with DELETE /tasks/{taskId}")
        with self._lock:
            del self._assets[found.uuid]
        return JSONResponse({"success": True})

    def _image_bytes(self, found: t.Asset | tuple[t.SimTask, int]) -> bytes:
        if isinstance(found, t.Asset):
            return found.data
        task, index = found
        return self._renders.get(task.uuid, task.image_spec(index, self.config.image_px)).png

    async def _describe(self, request: Request) -> Response:
        found = self._asset_or_404(request.path_params["asset_id"])
        self._count("describes")
        return JSONResponse({"prompt": describe(self._image_bytes(found))})

    # ---- files -------------------------------------------------------------------------------------

    def _file(self, owner: str, filename: str) -> tuple[bytes, str] | None:
        """The bytes and media type behind /artifacts/<owner>/<filename>, if that file exists now."""
        asset = self._assets.get(owner)
        if asset is not None:
            if filename == asset.filename:
                return asset.data, asset.mime
            return (preview_of(asset.data), "image/jpeg") if filename == "preview.jpg" else None
        task = self._tasks.get(owner)
        match = _TASK_FILE.fullmatch(filename)
        if task is None or match is None or not task.artifacts_visible(task.phase(self.config.clock())):
            return None
        index, preview, ext = int(match.group(1)), bool(match.group(2)), match.group(3)
        if index >= task.params.num_images or (ext == "jpg") != preview:
            return None
        rendered = self._renders.get(owner, task.image_spec(index, self.config.image_px))
        return (rendered.jpeg, "image/jpeg") if preview else (rendered.png, "image/png")

    async def _download(self, request: Request) -> Response:
        owner, filename = request.path_params["owner"], request.path_params["filename"]
        found = self._file(owner, filename)
        if found is None:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        if not self._signer.verify(request.query_params.get("_jwt", ""), f"{owner}/{filename}"):
            return _cdn_error(403, "AccessDenied", "Access denied: missing, invalid or expired _jwt")
        self._count("downloads")
        data, media_type = found
        return Response(data, media_type=media_type, headers={"Cache-Control": "private, max-age=86400"})
