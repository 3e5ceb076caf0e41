"""The gallery view in a real browser: headless Chromium loads it through a small host page of our own
(tests/browser/host.js) in a sandboxed iframe under the CSP its resource declares, with results recorded from
the simulator through a real MCP client, so every image URL is live.

Set FRAMES_MCP_UPDATE_SCREENSHOTS=1 to write docs/gallery-light.png and docs/gallery-dark.png (otherwise the
screenshots go to a temporary directory). Without chromium and chromedriver the tests skip, unless
FRAMES_MCP_REQUIRE_ALL=1 (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from PIL import Image

from frames_mcp.server.app import build_server
from frames_mcp.server.gallery import GALLERY_URI, REFRESH_TOOL, origin_of
from frames_mcp.simulator import Simulator, SimulatorConfig, run_in_thread

from ._tools import require
from .conftest import settings_for, wire

HOST_DIR = Path(__file__).parent / "browser"
DOCS = Path(__file__).parent.parent / "docs"
TIMEOUT = 15.0

LIGHT = {
    "--color-background-primary": "#faf9f5",
    "--color-background-secondary": "#f0eee6",
    "--color-background-tertiary": "#e8e6dc",
    "--color-text-primary": "#141413",
    "--color-text-secondary": "#5e5d59",
    "--color-border-primary": "rgba(31, 30, 29, 0.15)",
    "--color-ring-primary": "#2c84db",
    "--color-background-inverse": "#141413",
    "--color-text-inverse": "#faf9f5",
    "--font-sans": "'DejaVu Sans', system-ui, sans-serif",
    "--border-radius-md": "8px",
    "--border-radius-lg": "12px",
}
DARK = LIGHT | {
    "--color-background-primary": "#262624",
    "--color-background-secondary": "#30302e",
    "--color-background-tertiary": "#3d3d3a",
    "--color-text-primary": "#faf9f5",
    "--color-text-secondary": "#c2c0b6",
    "--color-border-primary": "rgba(250, 249, 245, 0.15)",
    "--color-ring-primary": "#5a9fe6",
    "--color-background-inverse": "#faf9f5",
    "--color-text-inverse": "#141413",
}
CAPABILITIES = {
    "openLinks": {},
    "downloadFile": {},
    "serverTools": {},
    "message": {"text": {}},
    "updateModelContext": {"text": {}},
    "logging": {},
}


def _need(tool: str) -> str:
    path = shutil.which(tool)
    require(
        path is not None,
        f"{tool} is not installed (.ci/setup-browser.sh installs Debian's chromium and chromium-driver)",
    )
    assert path is not None
    return path


# ---- recorded results: a real MCP client with Apps, against the simulator -------------------------------


async def _record(sim: Simulator) -> dict[str, Any]:
    settings = settings_for(sim, image_origins=origin_of(sim.base_url))  # type: ignore[attr-defined]
    apps = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
    out: dict[str, Any] = {"inputs": {}}
    async with Client(build_server(settings), extensions=[apps]) as c:
        tools = (await c.list_tools()).tools
        out["app_tools"] = [
            t.name for t in tools if "app" in ((t.meta or {}).get("ui") or {}).get("visibility", ["app"])
        ]
        resource = wire((await c.read_resource(GALLERY_URI)).contents[0])
        out["html"], out["ui"] = resource["text"], resource["_meta"]["ui"]

        async def generate(key: str, **args: Any) -> None:
            out["inputs"][key] = args
            out[key] = wire(await c.call_tool("generate_frames", args))

        async def running() -> None:
            args = {"text_prompt": "a lighthouse on a cliff in a storm, long exposure", "style": "dreamscape"}
            out["inputs"]["running"] = args
            first = wire(await c.call_tool("generate_frames", {**args, "wait_seconds": 0}))
            task_id = first["structuredContent"]["taskId"]
            await anyio.sleep(0.9)  # into the run: RUNNING with a progress ratio
            out["running"] = wire(await c.call_tool("get_task", {"taskId": task_id}))
            out["running"]["structuredContent"]["options"] = first["structuredContent"]["options"]
            out["running_done"] = wire(await c.call_tool("get_task", {"taskId": task_id, "wait_seconds": 20}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(
                    generate, "done", text_prompt="a red fox in fresh snow at dawn", style="vivid", seed=42
                )
            )
            tg.start_soon(
                functools.partial(
                    generate, "single", text_prompt="a tall paper lantern", aspect_ratio="9:16", num_images=1
                )
            )
            tg.start_soon(functools.partial(generate, "failed", text_prompt="a knight [moderated]"))
            tg.start_soon(running)
        task_id = out["done"]["structuredContent"]["taskId"]
        out["refreshed"] = wire(await c.call_tool(REFRESH_TOOL, {"taskId": task_id}))
    assert out["running"]["structuredContent"]["status"] == "RUNNING", out["running"]
    assert out["done"]["structuredContent"]["status"] == "SUCCEEDED"
    return out


@pytest.fixture(scope="module")
def recorded() -> Iterator[dict[str, Any]]:
    sim = Simulator(SimulatorConfig(queue_seconds=0.1, run_seconds=1.5, image_px=400))  # type: ignore[arg-type]
    with run_in_thread(sim) as base_url:
        sim.base_url = base_url  # type: ignore[attr-defined]
        data = anyio.run(_record, sim)
        data["sim_origin"] = origin_of(base_url)
        yield data  # the simulator keeps serving the images while the browser tests run


# ---- the host page and the browser ------------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def host_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HOST_DIR)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/host.html"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium, chromedriver = _need("chromium"), _need("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=800,1400",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("FRAMES_MCP_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        return DOCS
    return tmp_path_factory.mktemp("screenshots")


class View:
    """One gallery in the host page: start it, read the host's message log, act inside the sandboxed frame."""

    def __init__(self, driver: Any, host_url: str, recorded: dict[str, Any], **config: Any) -> None:
        self.driver = driver
        theme = config.pop("theme", "light")
        variables = config.pop("variables", DARK if theme == "dark" else LIGHT)
        styles = {"variables": variables} if variables else {}
        cfg = {
            "html": recorded["html"],
            "csp": recorded["ui"]["csp"],
            "permissions": recorded["ui"].get("permissions"),
            "appTools": recorded["app_tools"],
            "hostCapabilities": CAPABILITIES,
            "hostContext": {
                "theme": theme,
                "styles": styles,
                "displayMode": "inline",
                "availableDisplayModes": ["inline"],
                "containerDimensions": {"maxHeight": 1200, "maxWidth": 720},
                "platform": "web",
                "locale": "en-US",
            },
            "toolName": "generate_frames",
            "tools": {},
        } | config
        cfg["hostContext"]["toolInfo"] = {"tool": {"name": cfg["toolName"]}}
        driver.get(host_url)
        driver.get_log("browser")  # start each view with an empty console log
        driver.execute_script("startHost(arguments[0])", cfg)

    def log(self) -> list[dict[str, Any]]:
        return self.driver.execute_script("return window.__log")  # type: ignore[no-any-return]

    def sent(self, method: str) -> list[dict[str, Any]]:
        """Messages the view posted with this method."""
        return [e["msg"] for e in self.log() if e["dir"] == "in" and e["msg"].get("method") == method]

    def wait(self, predicate: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; host log: {json.dumps(self.log())[:3000]}")

    @contextlib.contextmanager
    def frame(self) -> Iterator[Any]:
        from selenium.webdriver.common.by import By

        self.driver.switch_to.frame(self.driver.find_element(By.TAG_NAME, "iframe"))
        try:
            yield self.driver
        finally:
            self.driver.switch_to.default_content()

    def js(self, script: str, *args: Any) -> Any:
        with self.frame() as d:
            return d.execute_script(script, *args)

    def click(self, css: str) -> None:
        self.js("document.querySelector(arguments[0]).click()", css)

    def images(self) -> list[dict[str, Any]]:
        return self.js(  # type: ignore[no-any-return]
            "return [...document.images].map(i => ({src: i.src, complete: i.complete, w: i.naturalWidth,"
            " h: i.naturalHeight, shownW: i.getBoundingClientRect().width, shownH: i.getBoundingClientRect().height}))"
        )

    def wait_images_loaded(self, count: int) -> list[dict[str, Any]]:
        def loaded() -> list[dict[str, Any]] | None:
            imgs = self.images()
            return imgs if len(imgs) == count and all(i["complete"] and i["w"] > 0 for i in imgs) else None

        return self.wait(loaded, f"{count} images to load")  # type: ignore[no-any-return]

    def csp_violations(self) -> list[Any]:
        probe = self.driver.execute_script("return window.__csp")
        console = [e["message"] for e in self.driver.get_log("browser") if "Content Security Policy" in e["message"]]
        return [*probe, *console]

    def text(self, css: str) -> str:
        return self.js("return document.querySelector(arguments[0]).innerText", css)  # type: ignore[no-any-return]

    def screenshot(self, path: Path) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, "chat").screenshot(str(path))
        with Image.open(path) as shot:
            assert shot.width >= 700 and shot.height >= 150


def _luminance(css_colour: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_colour)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


# ---- the tests --------------------------------------------------------------------------------------------


def test_four_images_light_and_dark(browser: Any, host_url: str, recorded: dict[str, Any], screenshots: Path) -> None:
    view = View(browser, host_url, recorded, toolInput=recorded["inputs"]["done"], toolResult=recorded["done"])
    imgs = view.wait_images_loaded(4)
    urls = [a["url"] for a in recorded["done"]["structuredContent"]["artifacts"]]
    assert [i["src"] for i in imgs] == urls
    assert all(abs(i["shownW"] / i["shownH"] - 16 / 9) < 0.02 for i in imgs)  # the grid keeps the task's ratio

    # The handshake, in order: ui/initialize, the host's answer, initialized, and only then the tool data.
    log = view.log()
    first = log[0]["msg"]
    assert first["method"] == "ui/initialize" and first["params"]["protocolVersion"] == "2026-01-26"
    assert first["params"]["appInfo"]["name"] == "frames-mcp-gallery"
    order = [e["msg"].get("method") or ("response" if e["dir"] == "out" else "reply") for e in log]
    assert order[1] == "response"  # nothing else (not even size-changed) before the host's answer
    init = order.index("ui/notifications/initialized")
    assert order.index("response") < init < order.index("ui/notifications/tool-input")
    assert order.index("ui/notifications/tool-input") < order.index("ui/notifications/tool-result")

    # size-changed: reported, and after the images loaded it matches the content.
    sizes = view.wait(lambda: view.sent("ui/notifications/size-changed"), "size-changed")
    content_height = view.js("return Math.ceil(document.getElementById('app').getBoundingClientRect().height)")
    view.wait(
        lambda: view.sent("ui/notifications/size-changed")[-1]["params"]["height"] == content_height, "final size"
    )
    assert len(sizes) >= 1 and content_height > 400
    assert view.csp_violations() == []

    text = view.text("header")
    assert "a red fox in fresh snow at dawn" in text and "4 images" in text
    assert "vivid" in text and "42" in text and "16:9" in text
    assert view.js("return document.documentElement.dataset.theme") == "light"
    assert _luminance(view.js("return getComputedStyle(document.querySelector('h1')).color")) < 0.2
    view.screenshot(screenshots / "gallery-light.png")

    browser.execute_script("setHostTheme('dark')")
    browser.execute_script(
        "hostNotify('ui/notifications/host-context-changed', arguments[0])",
        {"theme": "dark", "styles": {"variables": DARK}},
    )
    view.wait(lambda: view.js("return document.documentElement.classList.contains('dark')"), "dark theme")
    assert view.js("return getComputedStyle(document.querySelector('h1')).color") == "rgb(250, 249, 245)"
    assert view.csp_violations() == []
    view.screenshot(screenshots / "gallery-dark.png")

    # Teardown: the host asks, the view answers (same id) before it is removed.
    browser.execute_script("hostRequest('ui/resource-teardown', {})")
    view.wait(
        lambda: any(e["msg"].get("id") == "host-1" and "result" in e["msg"] for e in view.log()), "teardown reply"
    )


def test_actions_post_the_right_messages(browser: Any, host_url: str, recorded: dict[str, Any]) -> None:
    done = recorded["done"]["structuredContent"]
    arts = done["artifacts"]
    view = View(browser, host_url, recorded, toolInput=recorded["inputs"]["done"], toolResult=recorded["done"])
    view.wait_images_loaded(4)

    view.click('.tile[data-index="1"]')  # pick image 2
    picked = view.wait(lambda: view.sent("ui/update-model-context"), "model context")[-1]["params"]
    assert picked["structuredContent"] == {
        "taskId": done["taskId"],
        "index": 1,
        "assetId": arts[1]["assetId"],
        "url": arts[1]["url"],
    }
    assert view.text("#picked") == "Image 2 of 4"

    view.click("#open")
    assert view.wait(lambda: view.sent("ui/open-link"), "open-link")[-1]["params"] == {"url": arts[1]["url"]}

    view.click("#download")
    download = view.wait(lambda: view.sent("ui/download-file"), "download-file")[-1]["params"]
    assert download["contents"] == [
        {
            "type": "resource_link",
            "uri": arts[1]["url"],
            "name": download["contents"][0]["name"],
            "mimeType": "image/png",
        }
    ]
    assert download["contents"][0]["name"].endswith("-2.png")

    view.js(
        "Object.defineProperty(navigator, 'clipboard', {configurable: true,"
        " value: {writeText: async (t) => { window.__copied = t; }}})"
    )
    view.click("#copy")
    assert view.wait(lambda: view.js("return window.__copied"), "clipboard") == arts[1]["assetId"]
    # Without a clipboard the assetId is shown, selected, for the person to copy.
    view.js(
        "Object.defineProperty(navigator, 'clipboard', {configurable: true,"
        " value: {writeText: async () => { throw new Error('denied'); }}})"
    )
    view.click("#copy")
    assert (
        view.wait(lambda: view.js("const f = document.querySelector('.copy-field'); return f && f.value"), "field")
        == (arts[1]["assetId"])
    )

    # Variations: proposed first, in the view; only "Send to chat" posts, and only as a chat message.
    view.click("#vary")
    assert view.js("return !document.getElementById('confirm').hidden")
    assert view.sent("ui/message") == []
    view.click("#send")
    message = view.wait(lambda: view.sent("ui/message"), "ui/message")[-1]["params"]
    assert message["role"] == "user" and len(message["content"]) == 1
    text = message["content"][0]["text"]
    assert "image 2" in text and done["taskId"] in text and arts[1]["assetId"] in text
    call = json.loads(text.split("generate_frames ", 1)[1].splitlines()[0])
    assert call == {
        "text_prompt": "a red fox in fresh snow at dawn",
        "seed": 42,
        "aspect_ratio": "16:9",
        "style": "vivid",
        "diversity": 4,
        "num_images": 4,
    }
    assert "spends credits" in text

    # Another style: same prompt, seed and ratio; the current style is not offered.
    styles = view.js("return [...document.querySelectorAll('#style option')].map(o => o.value)")
    assert "vivid" not in styles and "sketch" in styles and len(styles) == 18
    view.js("document.getElementById('style').value = 'sketch'")
    view.click("#restyle")
    view.click("#cancel")  # changed their mind: nothing is sent
    assert len(view.sent("ui/message")) == 1
    view.click("#restyle")
    view.click("#send")
    restyle = view.wait(lambda: len(view.sent("ui/message")) == 2 and view.sent("ui/message"), "second message")
    call = json.loads(restyle[-1]["params"]["content"][0]["text"].split("generate_frames ", 1)[1].splitlines()[0])
    assert call["style"] == "sketch" and call["seed"] == 42 and call["diversity"] == 2
    assert call["text_prompt"] == "a red fox in fresh snow at dawn"

    # The view never starts a generation itself.
    assert all(m["params"]["name"] != "generate_frames" for m in view.sent("tools/call"))
    assert view.csp_violations() == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_running_task_shows_progress_then_its_images(
    browser: Any, host_url: str, recorded: dict[str, Any], tmp_path: Path, theme: str
) -> None:
    running = recorded["running"]["structuredContent"]
    view = View(
        browser,
        host_url,
        recorded,
        theme=theme,
        variables=None,  # the view's own fallbacks, for both themes
        toolInput=recorded["inputs"]["running"],
        toolResult=recorded["running"],
        tools={"get_task": [recorded["running_done"]]},
        hold=["get_task"],
    )
    # It re-reads the task through get_task (free), and shows the progress meanwhile.
    call = view.wait(lambda: view.sent("tools/call"), "get_task call")[0]["params"]
    assert call == {"name": "get_task", "arguments": {"taskId": running["taskId"], "wait_seconds": 20}}
    percent = round(running["progress"] * 100)
    assert f"Running {percent}%" in view.text("#badge")
    assert f"{percent}% done" in view.text("#state")
    assert view.js("return document.querySelectorAll('.tile.placeholder').length") == 4
    assert view.js("return document.getElementById('refresh').disabled")  # while a check is in flight
    colour = view.js("return getComputedStyle(document.querySelector('h1')).color")
    assert (_luminance(colour) > 0.8) if theme == "dark" else (_luminance(colour) < 0.2)
    view.wait(lambda: view.sent("ui/notifications/size-changed"), "size-changed")
    view.screenshot(tmp_path / f"gallery-running-{theme}.png")

    browser.execute_script("releaseHeld()")
    view.wait_images_loaded(4)
    assert "4 images" in view.text("#badge")
    told = view.wait(lambda: view.sent("ui/update-model-context"), "model told")[-1]["params"]
    assert "finished" in told["content"][0]["text"] and running["taskId"] in told["content"][0]["text"]
    assert view.csp_violations() == []


def test_a_failed_task_shows_the_reason(browser: Any, host_url: str, recorded: dict[str, Any]) -> None:
    view = View(browser, host_url, recorded, toolInput=recorded["inputs"]["failed"], toolResult=recorded["failed"])
    view.wait(lambda: "Failed" in view.text("#badge"), "failed badge")
    state = view.text("#state")
    assert "SAFETY.INPUT.TEXT" in state and "Rewrite it" in state
    assert view.js("return document.images.length") == 0
    assert view.js("return document.getElementById('image-actions').hidden")
    assert view.sent("tools/call") == []


def test_an_expired_link_is_refreshed_once_through_the_app_only_tool(
    browser: Any, host_url: str, recorded: dict[str, Any]
) -> None:
    expired = json.loads(re.sub(r"_jwt=[\w.\-]+", "_jwt=expired", json.dumps(recorded["done"])))
    # A day later the person scrolls back to a get_task result: its links have expired.
    task_id = recorded["done"]["structuredContent"]["taskId"]
    view = View(
        browser,
        host_url,
        recorded,
        toolName="get_task",
        toolInput={"taskId": task_id},
        toolResult=expired,
        tools={REFRESH_TOOL: [recorded["refreshed"]]},
    )
    fresh = [a["url"] for a in recorded["refreshed"]["structuredContent"]["artifacts"]]
    imgs = view.wait_images_loaded(4)
    assert [i["src"] for i in imgs] == fresh
    calls = view.sent("tools/call")
    assert [c["params"] for c in calls] == [{"name": REFRESH_TOOL, "arguments": {"taskId": task_id}}]
    assert REFRESH_TOOL in recorded["app_tools"]


def test_an_undeclared_image_origin_is_a_csp_violation(browser: Any, host_url: str, recorded: dict[str, Any]) -> None:
    # The negative control: without the images' origin in resourceDomains the host's CSP blocks them, and
    # this harness sees it (so the "no violation" checks above mean something).
    csp = {"resourceDomains": [d for d in recorded["ui"]["csp"]["resourceDomains"] if d != recorded["sim_origin"]]}
    view = View(
        browser, host_url, recorded, csp=csp, toolResult=recorded["done"], tools={REFRESH_TOOL: [recorded["refreshed"]]}
    )
    view.wait(lambda: view.driver.execute_script("return window.__csp.length") > 0, "a violation")
    assert all(v["directive"].startswith("img-src") for v in view.driver.execute_script("return window.__csp"))
    warnings = view.wait(lambda: view.sent("notifications/message"), "the view's own warning")
    assert "FRAMES_MCP_IMAGE_ORIGINS" in warnings[0]["params"]["data"]
    view.wait(lambda: view.js("return document.querySelectorAll('.tile.broken').length") == 4, "broken tiles")
    assert len(view.sent("tools/call")) == 1  # refreshed once, not in a loop


def test_one_portrait_image_on_a_host_with_fewer_capabilities(
    browser: Any, host_url: str, recorded: dict[str, Any]
) -> None:
    fewer = {k: v for k, v in CAPABILITIES.items() if k not in ("downloadFile", "message")}
    view = View(
        browser,
        host_url,
        recorded,
        hostCapabilities=fewer,
        toolInput=recorded["inputs"]["single"],
        toolResult=recorded["single"],
    )
    (img,) = view.wait_images_loaded(1)
    assert abs(img["shownW"] / img["shownH"] - 9 / 16) < 0.02
    assert img["shownH"] <= 481
    assert view.text("#picked") == "Image"
    # Only what the host offers: no download button, and no way to ask the chat for more.
    assert view.js("return document.getElementById('download').hidden")
    assert view.js("return document.getElementById('vary').disabled && document.getElementById('restyle').disabled")
    assert not view.js("return document.getElementById('open').disabled")


def test_cancelled_before_a_result(browser: Any, host_url: str, recorded: dict[str, Any]) -> None:
    view = View(browser, host_url, recorded, toolInput=recorded["inputs"]["done"])
    view.wait(lambda: view.js("return document.querySelectorAll('.tile.placeholder').length") == 4, "placeholders")
    assert "a red fox" in view.text("h1")
    browser.execute_script("hostNotify('ui/notifications/tool-cancelled', {reason: 'user action'})")
    view.wait(lambda: "Cancelled" in view.text("#badge"), "cancelled")
    assert "user action" in view.text("#state")


# ---- MCP Apps 2.x hosts (ext-apps 2.x): capabilities under extensions, view logging as ui/log ------------

V2_CAPABILITIES = {"extensions": {"io.modelcontextprotocol/ui": CAPABILITIES}}


def test_a_v2_host_gets_the_views_log_as_ui_log(browser: Any, host_url: str, recorded: dict[str, Any]) -> None:
    # The same blocked-origin warning as above, to a 2.x host: sent as ui/log, which a 1.x host would drop,
    # and not as notifications/message (the v1 test above shows the other way round).
    csp = {"resourceDomains": [d for d in recorded["ui"]["csp"]["resourceDomains"] if d != recorded["sim_origin"]]}
    view = View(
        browser,
        host_url,
        recorded,
        csp=csp,
        hostCapabilities=V2_CAPABILITIES,
        toolResult=recorded["done"],
        tools={REFRESH_TOOL: [recorded["refreshed"]]},
    )
    warnings = view.wait(lambda: view.sent("ui/log"), "the view's warning as ui/log")
    assert "FRAMES_MCP_IMAGE_ORIGINS" in warnings[0]["params"]["data"]
    assert view.sent("notifications/message") == []


def test_a_v2_host_offers_its_capabilities_under_extensions(
    browser: Any, host_url: str, recorded: dict[str, Any]
) -> None:
    # Capabilities nested under extensions["io.modelcontextprotocol/ui"] are read like 1.x's top-level ones:
    # download offered (downloadFile), the chat actions enabled (message), and the images shown.
    view = View(
        browser,
        host_url,
        recorded,
        hostCapabilities=V2_CAPABILITIES,
        toolInput=recorded["inputs"]["done"],
        toolResult=recorded["done"],
    )
    view.wait_images_loaded(4)
    assert not view.js("return document.getElementById('download').hidden")
    assert not view.js("return document.getElementById('vary').disabled")
    assert view.csp_violations() == []
