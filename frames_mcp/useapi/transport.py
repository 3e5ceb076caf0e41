"""The HTTP plumbing under the useapi client: one TLS context a process, and a transport built at first use that
sends a POST over a kept-alive connection only if it was in use a moment ago."""

from __future__ import annotations

import functools
import ssl

import httpx2

# How long a connection may sit idle and still carry a POST: far below any server's idle timeout (uvicorn's,
# the simulator's, is 5 s; httpx2 keeps connections 5 s too), so the server cannot be closing it as it is sent.
POST_REUSE = 1.0


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """httpx2's default TLS settings (its trust store, SSL_CERT_FILE honoured), loaded once per process: each
    load of the trust store costs about 50 ms of CPU, and every session has two clients."""
    return httpx2.create_ssl_context()


class LazyTransport(httpx2.AsyncBaseTransport):
    """httpx2's default transport, built at the first request instead of at startup.

    Building it imports the connection pool and loads the TLS trust store, a good part of the server's
    start: clients list tools right after spawning a server, long before its first generation.

    A POST (frames/create, an upload: neither may be sent twice) reuses a connection only if it was idle less
    than `post_reuse` seconds. A server closes an idle keep-alive connection when its idle timeout strikes; a
    request written to one just then fails after being sent, which for frames/create means "it may have run",
    never retried. Back-to-back creates still share a connection (a TLS handshake each would cost more than a
    create's own round trip on a near network). Reads keep the default pool: they are retried.
    """

    def __init__(self, post_reuse: float = POST_REUSE) -> None:
        self._post_reuse = post_reuse
        self._pooled: httpx2.AsyncHTTPTransport | None = None
        self._posts: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            if self._posts is None:
                brief = httpx2.Limits(keepalive_expiry=self._post_reuse)
                self._posts = httpx2.AsyncHTTPTransport(verify=shared_tls(), limits=brief)
            return await self._posts.handle_async_request(request)
        if self._pooled is None:
            self._pooled = httpx2.AsyncHTTPTransport(verify=shared_tls())
        return await self._pooled.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._pooled, self._posts):
            if transport is not None:
                await transport.aclose()
