"""The HTTP plumbing under the useapi client: one TLS context a process, and a transport built at first use that
never sends a POST over a pooled connection."""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """httpx2's default TLS settings (its trust store, SSL_CERT_FILE honoured), loaded once per process: each
    load of the trust store costs about 50 ms of CPU, and every session has two clients."""
    return httpx2.create_ssl_context()


class LazyTransport(httpx2.AsyncBaseTransport):
    """httpx2's default transport, built at the first request instead of at startup.

    Building it imports the connection pool and loads the TLS trust store, a good part of the server's
    start: clients list tools right after spawning a server, long before its first generation.

    A POST (frames/create, an upload: neither may be sent twice) goes over a connection of its own. A server
    closes an idle keep-alive connection when it chooses; a request written to one just then fails after being
    sent, which for frames/create means "it may have run", never retried. Reads keep the pool: they are retried.
    """

    def __init__(self) -> None:
        self._pooled: httpx2.AsyncHTTPTransport | None = None
        self._fresh: httpx2.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            if self._fresh is None:
                no_reuse = httpx2.Limits(max_keepalive_connections=0)
                self._fresh = httpx2.AsyncHTTPTransport(verify=shared_tls(), limits=no_reuse)
            return await self._fresh.handle_async_request(request)
        if self._pooled is None:
            self._pooled = httpx2.AsyncHTTPTransport(verify=shared_tls())
        return await self._pooled.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._pooled, self._fresh):
            if transport is not None:
                await transport.aclose()
