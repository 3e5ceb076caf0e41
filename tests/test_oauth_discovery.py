"""Over HTTP, OAuth discovery answers 404: the server has no OAuth, and a 401 there reads as "OAuth required".

Clients probe /.well-known/oauth-protected-resource (RFC 9728) and the authorization-server documents before
they send anything; Cursor, seeing 401, switches to OAuth and ignores the configured Authorization header.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from frames_mcp.server.http import OAUTH_DISCOVERY_PATHS
from frames_mcp.useapi.transport import shared_tls

from ._tools import HttpServer, http_server

TOKEN = "discovery-test-token"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    with http_server(["--demo"], env={"FRAMES_MCP_AUTH_TOKEN": TOKEN}) as s:
        yield s


@pytest.mark.parametrize("path", OAUTH_DISCOVERY_PATHS)
def test_oauth_discovery_is_not_found_without_a_token(server: HttpServer, path: str) -> None:
    response = httpx2.get(server.base + path, timeout=10, verify=shared_tls())
    assert response.status_code == 404
    assert "WWW-Authenticate" not in response.headers
    assert "Bearer" in response.json()["error_description"]


def test_the_discovery_paths_cover_rfc_9728_and_8414_with_the_mcp_suffix() -> None:
    assert {
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/mcp",
    } <= set(OAUTH_DISCOVERY_PATHS)


def test_mcp_still_needs_the_token(server: HttpServer) -> None:
    # The exemption is for the discovery documents only.
    response = httpx2.post(server.url, json={}, timeout=10, verify=shared_tls())
    assert response.status_code == 401
