"""Streamable HTTP for pipelines, over real loopback HTTP: bearer auth, Host/Origin checks, /healthz, --stateless.

Servers are the installed console script as a subprocess; requests are raw httpx2 where the status line is
the point, and the SDK's own Client where the protocol is.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from frames_mcp.config import Settings
from frames_mcp.media.guard import is_loopback
from frames_mcp.server.http import GRACEFUL_SHUTDOWN_SECONDS, transport_security
from frames_mcp.useapi.errors import ConfigurationError
from frames_mcp.useapi.transport import shared_tls

from ._tools import INITIALIZE, HttpServer, clean_env, frames_mcp_argv, http_server, stop

pytestmark = pytest.mark.anyio

TOKEN = "test-token-7f3a9c"  # not a secret: only these loopback test servers accept it
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    """One token-protected loopback server for the read-only checks of this module."""
    with http_server(env={"FRAMES_MCP_AUTH_TOKEN": TOKEN}) as s:
        yield s


@pytest.fixture(scope="module")
def stateless_server() -> Iterator[HttpServer]:
    """--stateless, against the built-in simulator so generate_frames runs for real."""
    env = {"FRAMES_MCP_AUTH_TOKEN": TOKEN, "FRAMES_MCP_WAIT_SECONDS": "30"}
    with http_server(["--stateless", "--demo"], env=env) as s:
        yield s


def post_initialize(server: HttpServer, **headers: str) -> httpx2.Response:
    return httpx2.post(server.url, json=INITIALIZE, headers=MCP_HEADERS | headers, timeout=10, verify=shared_tls())


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def authed_http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(verify=shared_tls(), headers=bearer(), timeout=30) as http:
        yield http


# ---- authentication -------------------------------------------------------------------------------------


def test_healthz_answers_without_a_token(server: HttpServer) -> None:
    # Load balancers probe /healthz without credentials (and often with an IP as Host).
    response = httpx2.get(f"{server.base}/healthz", headers={"Host": "10.1.2.3:8000"}, timeout=10, verify=shared_tls())
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_no_token_is_401_with_a_bearer_challenge(server: HttpServer) -> None:
    # RFC 6750: a request without credentials gets 401 and a WWW-Authenticate challenge naming the scheme.
    response = post_initialize(server)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_wrong_token_is_401_invalid_token(server: HttpServer) -> None:
    response = post_initialize(server, **bearer("not-the-token"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_another_scheme_is_401(server: HttpServer) -> None:
    # The right secret under another scheme (Basic) is not a bearer token.
    response = post_initialize(server, Authorization=f"Basic {TOKEN}")
    assert response.status_code == 401


def test_the_scheme_name_is_case_insensitive(server: HttpServer) -> None:
    # RFC 9110: auth-scheme names are case-insensitive.
    response = post_initialize(server, Authorization=f"bearer {TOKEN}")
    assert response.status_code == 200


def test_tokens_never_reach_the_log(server: HttpServer) -> None:
    # Neither the configured token nor a wrong one offered by a client may be written to stderr.
    post_initialize(server, **bearer("wrong-token-4242"))
    post_initialize(server, **bearer())
    log = server.stderr()
    assert TOKEN not in log
    assert "wrong-token-4242" not in log


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_right_token_lists_tools_and_calls_list_styles(
    server: HttpServer, authed_http: httpx2.AsyncClient, mode: str
) -> None:
    # Both protocol eras work through the auth layer: 2026-07-28 ("auto") and 2025-11-25 ("legacy").
    async with Client(streamable_http_client(server.url, http_client=authed_http), mode=mode) as c:  # type: ignore[arg-type]
        tools = await c.list_tools()
        assert {t.name for t in tools.tools} >= {"generate_frames", "get_task", "list_styles"}
        styles = await c.call_tool("list_styles", {})
    assert not styles.is_error
    assert len(styles.structured_content["styles"]) == 19  # type: ignore[index]


# ---- DNS-rebinding protection ---------------------------------------------------------------------------


def test_foreign_host_is_421_even_with_the_token(server: HttpServer) -> None:
    # A browser tricked by DNS rebinding sends the attacker's Host; the server must refuse it.
    response = post_initialize(server, Host="evil.example", **bearer())
    assert response.status_code == 421


def test_foreign_origin_is_403(server: HttpServer) -> None:
    response = post_initialize(server, Origin="https://evil.example", **bearer())
    assert response.status_code == 403


def test_loopback_origin_is_accepted_by_default(server: HttpServer) -> None:
    # A local browser-based client (the Inspector's web UI, say) sends a loopback Origin.
    response = post_initialize(server, Origin="http://localhost:6274", **bearer())
    assert response.status_code == 200


def test_configured_hosts_and_origins_replace_the_loopback_defaults() -> None:
    # FRAMES_MCP_ALLOWED_HOSTS / _ORIGINS are the whole list: behind a proxy only the public name is accepted.
    env = {
        "FRAMES_MCP_AUTH_TOKEN": TOKEN,
        "FRAMES_MCP_ALLOWED_HOSTS": "frames.example.com, frames.internal:*",
        "FRAMES_MCP_ALLOWED_ORIGINS": "https://app.example.com",
    }
    with http_server(env=env) as s:
        assert post_initialize(s, Host="frames.example.com", **bearer()).status_code == 200
        assert post_initialize(s, Host="frames.internal:8443", **bearer()).status_code == 200
        assert post_initialize(s, **bearer()).status_code == 421  # Host 127.0.0.1:<port> is not listed
        allowed = post_initialize(s, Host="frames.example.com", Origin="https://app.example.com", **bearer())
        assert allowed.status_code == 200
        assert post_initialize(s, Host="frames.example.com", Origin="http://localhost:1", **bearer()).status_code == 403


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "FRAMES_MCP_AUTH_TOKEN and FRAMES_MCP_ALLOWED_HOSTS"),
        ({"FRAMES_MCP_AUTH_TOKEN": TOKEN}, "FRAMES_MCP_ALLOWED_HOSTS"),
        ({"FRAMES_MCP_ALLOWED_HOSTS": "frames.example.com"}, "FRAMES_MCP_AUTH_TOKEN"),
    ],
)
def test_all_interfaces_without_token_and_allowed_hosts_refuses_to_start(env: dict[str, str], missing: str) -> None:
    # The SDK would serve 0.0.0.0 with no Host/Origin check at all; frames-mcp exits 2 and says what to set.
    proc = subprocess.run(
        frames_mcp_argv("--transport", "http", "--host", "0.0.0.0", "--port", "1"),
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"without {missing}." in proc.stderr
    assert proc.stdout == ""


def test_all_interfaces_with_token_and_hosts_keeps_the_protection() -> None:
    # Binding 0.0.0.0 never switches DNS-rebinding protection off: only the configured Host values pass.
    port_env = {"FRAMES_MCP_AUTH_TOKEN": TOKEN, "FRAMES_MCP_ALLOWED_HOSTS": "127.0.0.1:*"}
    with http_server(["--host", "0.0.0.0"], env=port_env) as s:
        assert post_initialize(s, **bearer()).status_code == 200
        assert post_initialize(s, Host="evil.example", **bearer()).status_code == 421
        assert post_initialize(s, Origin="https://evil.example", **bearer()).status_code == 403
        assert post_initialize(s).status_code == 401


def test_blank_allowed_hosts_count_as_not_configured() -> None:
    # FRAMES_MCP_ALLOWED_HOSTS=" , " must not pass for a configured (empty) list on a public bind.
    settings = Settings.from_env({"FRAMES_MCP_AUTH_TOKEN": TOKEN, "FRAMES_MCP_ALLOWED_HOSTS": " , "})
    assert settings.allowed_hosts is None
    with pytest.raises(ConfigurationError, match="without FRAMES_MCP_ALLOWED_HOSTS"):
        transport_security("0.0.0.0", settings)


def test_settings_never_show_the_auth_token() -> None:
    settings = Settings.from_env({"FRAMES_MCP_AUTH_TOKEN": TOKEN})
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        *[("127.0.0.1", True), ("127.3.4.5", True), ("localhost", True), ("::1", True), ("[::1]", True)],
        *[("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("frames.example.com", False)],
    ],
)
def test_which_bind_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# ---- stateless mode and shutdown ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stateless_serves_both_client_modes(
    stateless_server: HttpServer, authed_http: httpx2.AsyncClient, mode: str
) -> None:
    # --stateless is for replicas behind a load balancer: any request may land on any replica.
    transport = streamable_http_client(stateless_server.url, http_client=authed_http)
    async with Client(transport, mode=mode) as c:  # type: ignore[arg-type]
        styles = await c.call_tool("list_styles", {})
    assert not styles.is_error


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stateless_still_streams_progress(
    stateless_server: HttpServer, authed_http: httpx2.AsyncClient, mode: str
) -> None:
    # Progress rides on each call's own SSE response, so it needs no session.
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    transport = streamable_http_client(stateless_server.url, http_client=authed_http)
    async with Client(transport, mode=mode) as c:  # type: ignore[arg-type]
        r = await c.call_tool(
            "generate_frames", {"text_prompt": "a paper boat", "num_images": 1}, progress_callback=on_progress
        )
    assert r.structured_content["status"] == "SUCCEEDED"  # type: ignore[index]
    assert seen
    assert seen[-1] == 1.0


def test_stateless_hands_out_no_session(stateless_server: HttpServer) -> None:
    # No Mcp-Session-Id: nothing ties a client to the replica that answered its initialize.
    response = post_initialize(stateless_server, **bearer())
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers


def test_stateful_hands_out_a_session(server: HttpServer) -> None:
    response = post_initialize(server, **bearer())
    assert response.status_code == 200
    assert response.headers["mcp-session-id"]


def test_sigterm_shuts_down_cleanly() -> None:
    # Orchestrators stop containers with SIGTERM: the server drains and exits 0 instead of being killed.
    with http_server(env={"FRAMES_MCP_AUTH_TOKEN": TOKEN}) as s:
        assert post_initialize(s, **bearer()).status_code == 200
        code = stop(s.process, timeout=GRACEFUL_SHUTDOWN_SECONDS + 10)
        log = s.stderr()
    # uvicorn re-raises the signal after its orderly shutdown, so the status is "ended by SIGTERM", not SIGKILL.
    assert code in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
