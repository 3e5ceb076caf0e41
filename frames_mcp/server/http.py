"""Streamable HTTP for agent pipelines: bearer auth, Host/Origin checks, /healthz and graceful shutdown.

The SDK's own `run("streamable-http", host="0.0.0.0")` switches DNS-rebinding protection off. Here the
protection is always on: a loopback bind allows only loopback Host and Origin values unless configured
otherwise, and any other bind refuses to start without FRAMES_MCP_AUTH_TOKEN and FRAMES_MCP_ALLOWED_HOSTS.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from frames_mcp.config import Settings
from frames_mcp.media.guard import is_loopback
from frames_mcp.useapi.errors import ConfigurationError

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
# On SIGTERM/SIGINT uvicorn stops accepting connections, then gives open ones this long to finish.
GRACEFUL_SHUTDOWN_SECONDS = 10

# OAuth discovery (RFC 9728 protected-resource metadata, RFC 8414 / OpenID authorization-server metadata), bare
# and with the /mcp suffix. There is no OAuth here: these answer 404, never 401, because a client that sees 401
# there concludes OAuth is required (Cursor then ignores the configured Authorization header).
OAUTH_DISCOVERY_PATHS = tuple(
    f"/.well-known/{doc}{suffix}"
    for doc in ("oauth-protected-resource", "oauth-authorization-server", "openid-configuration")
    for suffix in ("", MCP_PATH)
)

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


def transport_security(host: str, settings: Settings) -> TransportSecuritySettings:
    """Host/Origin validation for a bind address; never disabled. Raises ConfigurationError for an unsafe setup."""
    if not is_loopback(host):
        missing = [
            name
            for name, value in (
                ("FRAMES_MCP_AUTH_TOKEN", settings.auth_token),
                ("FRAMES_MCP_ALLOWED_HOSTS", settings.allowed_hosts),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"Refusing to serve HTTP on {host}, a non-loopback address, without {' and '.join(missing)}.",
                hint="Set FRAMES_MCP_AUTH_TOKEN to a long random secret that clients send as "
                "'Authorization: Bearer <token>', and FRAMES_MCP_ALLOWED_HOSTS to the comma-separated Host "
                "values clients use (for example 'frames.internal:8000,10.0.0.5:*'); "
                "or bind --host 127.0.0.1.",
            )
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(settings.allowed_hosts or LOOPBACK_HOSTS),
        # Browsers send Origin; pipelines usually do not, and a missing Origin is accepted.
        allowed_origins=list(settings.allowed_origins or (LOOPBACK_ORIGINS if is_loopback(host) else ())),
    )


class BearerAuth:
    """ASGI middleware: every HTTP request outside `exempt` needs `Authorization: Bearer <token>`.

    The comparison runs in constant time over the raw header bytes; failures get 401 with WWW-Authenticate
    (RFC 6750), and neither the expected nor the offered token is ever logged.
    """

    def __init__(self, app: ASGIApp, token: SecretStr, exempt: Iterable[str] = ()) -> None:
        self.app = app
        self._expected = token.get_secret_value().encode()
        self._exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
            return
        offered = [value for name, value in scope["headers"] if name == b"authorization"]
        if not offered:
            response = _unauthorized('Bearer realm="frames-mcp"', "missing_token", "Authentication required.")
        elif len(offered) == 1 and self._matches(offered[0]):
            await self.app(scope, receive, send)
            return
        else:
            response = _unauthorized(
                'Bearer realm="frames-mcp", error="invalid_token"', "invalid_token", "The bearer token is not valid."
            )
        await response(scope, receive, send)

    def _matches(self, header: bytes) -> bool:
        scheme, _, credentials = header.strip().partition(b" ")
        # The scheme is case-insensitive (RFC 9110); the token is compared whatever the scheme, in constant time.
        return hmac.compare_digest(credentials.strip(), self._expected) and scheme.lower() == b"bearer"


def _unauthorized(challenge: str, error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=401,
        headers={"WWW-Authenticate": challenge},
    )


async def no_oauth(request: Request) -> Response:
    return JSONResponse(
        {
            "error": "not_found",
            "error_description": "This server does not use OAuth: send the configured token as "
            "'Authorization: Bearer <token>'.",
        },
        status_code=404,
    )


async def healthz(request: Request) -> Response:
    """Liveness for load balancers: no token and no Host check, and it says nothing about the server."""
    return JSONResponse({"status": "ok"})


def build_app(mcp: MCPServer[Any], settings: Settings, *, host: str, stateless: bool = False) -> Starlette:
    """The ASGI app for `host`: /mcp (Streamable HTTP, SSE responses) behind bearer auth, and /healthz."""
    security = transport_security(host, settings)
    app = mcp.streamable_http_app(
        streamable_http_path=MCP_PATH, stateless_http=stateless, transport_security=security, host=host
    )
    app.add_route(HEALTH_PATH, healthz, methods=["GET"])
    for path in OAUTH_DISCOVERY_PATHS:
        app.add_route(path, no_oauth, methods=["GET"])
    if settings.auth_token is not None:
        app.add_middleware(BearerAuth, token=settings.auth_token, exempt=[HEALTH_PATH, *OAUTH_DISCOVERY_PATHS])
    else:  # only a loopback bind gets here without a token (transport_security refused the rest)
        log.warning("FRAMES_MCP_AUTH_TOKEN is not set: any local process can call %s", MCP_PATH)
    log.info(
        "Streamable HTTP at %s (%s, bearer auth %s); allowed hosts: %s; allowed origins: %s",
        MCP_PATH,
        "stateless" if stateless else "stateful",
        "on" if settings.auth_token is not None else "off",
        ", ".join(security.allowed_hosts),
        ", ".join(security.allowed_origins) or "(none: requests with an Origin header are refused)",
    )
    return app


def serve(app: Starlette, *, host: str, port: int) -> None:
    """Run `app` under uvicorn until SIGINT/SIGTERM, then drain for GRACEFUL_SHUTDOWN_SECONDS at most."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep our logging setup: everything to stderr
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )
    uvicorn.Server(config).run()
