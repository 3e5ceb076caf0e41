"""The fetch layer and the contact sheet on their own, over httpx2.MockTransport: what no loopback
simulator can show (public hosts, DNS answers, redirects out of the internet, images megabytes big)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
import pytest
from PIL import Image

from frames_mcp.media import sheet as preview
from frames_mcp.media.downloads import fetch_image
from frames_mcp.media.guard import FetchError, Guard


@dataclass(frozen=True)
class Shot:
    """An image of a task as media/ reads it (media.pictures.Picture)."""

    index: int
    url: str
    previewUrl: str | None = None
    width: int | None = None
    height: int | None = None


pytestmark = pytest.mark.anyio

PUBLIC_IP = "93.184.216.34"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def _http(handler: Callable[[httpx2.Request], httpx2.Response]) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler))


def _resolver(answers: dict[str, list[str]]) -> Callable[[str, int], object]:
    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


async def test_guard_connects_to_the_address_it_checked() -> None:
    # DNS rebinding: the request goes to the checked address, with the original Host header.
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=_png(), headers={"content-type": "image/png"})

    guard = Guard(resolve=_resolver({"images.example": [PUBLIC_IP]}))  # type: ignore[arg-type]
    async with _http(handler) as http:
        got = await fetch_image(http, "http://images.example/a.png", max_bytes=10_000, guard=guard)
    assert got.mime == "image/png"
    assert seen[0].url.host == PUBLIC_IP and seen[0].headers["host"] == "images.example"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.9",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1",
        "224.0.0.1",
        "0.0.0.0",
    ],
)
async def test_guard_refuses_hosts_that_resolve_inward(address: str) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("no request may be sent")

    guard = Guard(resolve=_resolver({"sneaky.example": [PUBLIC_IP, address]}))  # type: ignore[arg-type]
    async with _http(handler) as http:
        with pytest.raises(FetchError, match="non-public"):
            await fetch_image(http, "http://sneaky.example/a.png", max_bytes=10_000, guard=guard)


async def test_guard_checks_every_redirect() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.host == PUBLIC_IP, "the redirect target must never be contacted"
        return httpx2.Response(302, headers={"location": "http://127.0.0.1:8080/admin"})

    guard = Guard(resolve=_resolver({"images.example": [PUBLIC_IP]}))  # type: ignore[arg-type]
    async with _http(handler) as http:
        with pytest.raises(FetchError, match="non-public"):
            await fetch_image(http, "http://images.example/a.png", max_bytes=10_000, guard=guard)


async def test_bytes_decide_not_the_content_type() -> None:
    # A page that calls itself image/png is still not an image.
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"<html>login</html>", headers={"content-type": "image/png"})

    async with _http(handler) as http:
        with pytest.raises(FetchError, match="Not an image"):
            await fetch_image(http, "http://cdn.example/a.png", max_bytes=10_000)


async def test_a_body_without_content_length_is_cut_at_the_cap() -> None:
    async def endless() -> object:
        yield _png()
        while True:
            yield b"\0" * 65536

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=endless(), headers={"content-type": "image/png"})  # type: ignore[arg-type]

    async with _http(handler) as http:
        with pytest.raises(FetchError, match="Too large"):
            await fetch_image(http, "http://cdn.example/a.png", max_bytes=1_000_000)


def _noise_jpeg(size: tuple[int, int]) -> bytes:
    """Random pixels: the worst case for JPEG size."""
    bands = [Image.effect_noise(size, 120) for _ in range(3)]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=95)
    return out.getvalue()


async def test_contact_sheet_of_huge_noisy_previews_stays_within_the_caps() -> None:
    big = _noise_jpeg((1920, 1088))  # about 1.5 MB each, and nearly incompressible

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=big, headers={"content-type": "image/jpeg"})

    artifacts = [
        Shot(
            index=i,
            url=f"http://cdn.example/{i}.png",
            previewUrl=f"http://cdn.example/{i}.jpg",
            width=1920,
            height=1088,
        )
        for i in range(4)
    ]
    notes: list[str] = []
    async with _http(handler) as http:
        sheet = await preview.contact_sheet(http, artifacts, notes, budget=30)
    assert sheet is not None and notes == []
    assert len(big) > 1_000_000
    assert len(sheet.jpeg) <= preview.MAX_BYTES and max(sheet.width, sheet.height) <= preview.MAX_SIDE
    assert Image.open(io.BytesIO(sheet.jpeg)).size == (sheet.width, sheet.height)


async def test_contact_sheet_refuses_a_decompression_bomb() -> None:
    bomb = io.BytesIO()
    Image.new("L", (8_000, 6_000)).save(bomb, "PNG")  # 48 megapixels in about 50 KB

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=bomb.getvalue(), headers={"content-type": "image/png"})

    notes: list[str] = []
    async with _http(handler) as http:
        sheet = await preview.contact_sheet(http, [Shot(index=0, url="http://cdn.example/0.png")], notes, budget=30)
    assert sheet is None
    assert notes == [
        "Image 1 is missing from the contact sheet: it could not be decoded (8000x6000 pixels is too large to decode)."
    ]
