"""The SSRF guard for URLs a caller supplies: every address public unless allowed, the connection pinned to it.

The host is resolved, every address must be public (no loopback, private, link-local, multicast or reserved
address) unless `allow_private`, and the connection goes to the address that was checked, so a DNS answer that
changes between the check and the connect cannot steer the request inward. No MCP types here.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from frames_mcp.useapi.errors import FramesError

Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchError(FramesError):
    """A fetch that failed or was refused. The message never repeats the URL (signed URLs carry tokens)."""


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address on the public internet: not this machine, its networks, or special ranges."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def is_loopback(host: str) -> bool:
    """True for a host name or address only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The SSRF policy for caller-supplied URLs."""

    allow_private: bool = False
    resolve: Resolver = _system_resolve

    async def pin(self, url: httpx2.URL) -> tuple[httpx2.URL, dict[str, str], dict[str, Any]]:
        """The URL to connect to (host replaced by a checked address), its Host header and TLS name."""
        host = url.host
        try:
            addresses = [ipaddress.ip_address(host)]
            literal = True
        except ValueError:
            literal = False
            try:
                found = await self.resolve(host, url.port or (443 if url.scheme == "https" else 80))
            except OSError:
                raise FetchError(f"The host {host!r} could not be resolved.") from None
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise FetchError(f"The host {host!r} has no address.")
        if not self.allow_private and not all(is_public(a) for a in addresses):
            raise FetchError(
                f"Refused to fetch from {host!r}: it is a loopback, private, link-local or otherwise non-public "
                "address. Set FRAMES_MCP_ALLOW_PRIVATE_URLS=true in the server's environment to allow that."
            )
        if literal:
            return url, {}, {}
        pinned = url.copy_with(host=str(addresses[0]))
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        return pinned, {"Host": url.netloc.decode("ascii")}, extensions
