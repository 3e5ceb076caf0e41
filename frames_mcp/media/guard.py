"""The SSRF guard for URLs from outside: every address public unless allowed, the connection pinned to it.

Two kinds of URL come through it. Those a caller supplies (upload_image), and the artifact and preview URLs
useapi sends (`for_upstream`). The host is resolved, every address must be public (no loopback, private,
link-local, multicast or reserved address) unless `allow_private` or the URL's origin is `trusted` (the
configured upstream itself, when it runs on this machine: demo mode, tests), and the connection goes to the
address that was checked, so a DNS answer that changes between the check and the connect cannot steer the
request inward. With `never_link_local`, link-local and cloud metadata addresses are refused even then.
No MCP types here.
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


# Cloud instance-metadata endpoints (AWS, ECS, Alibaba, Azure, AWS over IPv6): never fetched for upstream URLs.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254")
)


def is_link_local_or_metadata(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or address in METADATA_ADDRESSES


def _origin(url: httpx2.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host.lower()}:{port}"


@dataclass(frozen=True)
class Guard:
    """The SSRF policy for URLs from outside."""

    allow_private: bool = False
    resolve: Resolver = _system_resolve
    trusted: frozenset[str] = frozenset()  # origins (`scheme://host:port`) whose non-public address is fine
    never_link_local: bool = False

    @classmethod
    def for_upstream(cls, base_url: str, *, allow_private: bool) -> Guard:
        """The policy for artifact and preview URLs from useapi at `base_url`: public addresses, the upstream's
        own origin (where demo mode and tests serve images), and never link-local or metadata addresses."""
        return cls(
            allow_private=allow_private, trusted=frozenset({_origin(httpx2.URL(base_url))}), never_link_local=True
        )

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
        if self.never_link_local and any(is_link_local_or_metadata(a) for a in addresses):
            raise FetchError(
                f"Refused to fetch from {host!r}: a link-local or cloud metadata address is never fetched."
            )
        trusted = _origin(url) in self.trusted
        if not (self.allow_private or trusted) and not all(is_public(a) for a in addresses):
            raise FetchError(
                f"Refused to fetch from {host!r}: it is a loopback, private, link-local or otherwise non-public "
                "address. Set FRAMES_MCP_ALLOW_PRIVATE_URLS=true in the server's environment to allow that."
            )
        if literal:
            return url, {}, {}
        pinned = url.copy_with(host=str(addresses[0]))
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        return pinned, {"Host": url.netloc.decode("ascii")}, extensions
