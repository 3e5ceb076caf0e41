"""Signed artifact URLs: a `_jwt` query parameter like Runway's CloudFront links (HS256, with `exp`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())


class UrlSigner:
    """Mints and checks tokens bound to one file key. A fresh nonce makes every signature differ, so a
    re-read of a task visibly re-signs its URLs, as useapi does."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._secret = secrets.token_bytes(32)

    def sign(self, key: str) -> str:
        now = time.time()
        payload = {
            "bucket": "runway-task-artifacts",
            "key": key,
            "iat": math.floor(now),
            "exp": math.floor(now + self._ttl),
            "nonce": secrets.token_hex(6),
        }
        body = f"{_HEADER}.{_b64(json.dumps(payload, separators=(',', ':')).encode())}"
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, key: str) -> bool:
        """True if the token was minted here, for this key, and has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(parts[2], self._mac(f"{parts[0]}.{parts[1]}")):
            return False
        try:
            payload: Any = json.loads(_unb64(parts[1]))
        except ValueError:
            return False
        return isinstance(payload, dict) and payload.get("key") == key and payload.get("exp", 0) > time.time()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
