"""The ecosystem's own tools against frames-mcp: mcpb, the MCP Inspector CLI and the conformance suite.

They come pinned from package.json (`npm ci`, .ci/setup-node.sh) and run under Node 22 from the npm
registry. Without node_modules these tests skip, or fail when FRAMES_MCP_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._tools import REPO, HttpServer, clean_env, http_server, node_env, node_tool, require
from .conftest import console_script

TOKEN = "ecosystem-test-token"  # only the loopback servers of this module accept it
BASELINE = REPO / "tests" / "conformance" / "expected-failures.yml"
# Scenarios that need nothing of the suite's fixture server: each must pass, none may be in the baseline.
GENERIC_SCENARIOS = {
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "logging-set-level",
    "completion-complete",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}
TOOLS = {"generate_frames", "get_task", "list_styles"}


def run(argv: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A tool under Node 22 from the repo root, output captured, bounded in time."""
    return subprocess.run(
        list(argv), cwd=REPO, env=node_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    output = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"exit {proc.returncode}\n{output}"
    return json.loads(proc.stdout)


# ---- mcpb: the MCP Bundle -----------------------------------------------------------------------------


def test_mcpb_validates_the_bundle_manifest() -> None:
    proc = run([*node_tool("mcpb"), "validate", "manifests/manifest.json"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validation passes" in proc.stdout


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """manifests/pack-bundle.sh: the release recipe for the .mcpb, run as a release would run it."""
    node_tool("mcpb")
    out = tmp_path_factory.mktemp("bundle") / "frames-mcp.mcpb"
    proc = run(["bash", "manifests/pack-bundle.sh", str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_mcpb_packs_the_package_with_the_manifest_at_its_root(bundle: Path) -> None:
    # LICENSE too: the bundle is a distribution of MIT code and must carry the licence text.
    names = set(zipfile.ZipFile(bundle).namelist())
    assert {"manifest.json", "pyproject.toml", "uv.lock", "README.md", "LICENSE", "frames_mcp/server/app.py"} <= names
    assert not [n for n in names if n.startswith((".venv/", "node_modules/", "tests/")) or "__pycache__" in n]


def test_the_bundle_starts_with_its_own_mcp_config(bundle: Path, tmp_path: Path) -> None:
    # What an MCPB host does: unpack, substitute ${__dirname} and the user's settings, run mcp_config.
    require(shutil.which("uv") is not None, "uv is not on PATH")
    root = tmp_path / "unpacked"
    zipfile.ZipFile(bundle).extractall(root)
    manifest = json.loads((root / "manifest.json").read_text())
    user = {"useapi_token": "bundle-test-token", "useapi_email": "", "wait_seconds": "45"}

    def expand(value: str) -> str:
        value = value.replace("${__dirname}", str(root))
        return re.sub(r"\$\{user_config\.(\w+)\}", lambda m: user[m.group(1)], value)

    config = manifest["server"]["mcp_config"]
    # The Inspector, like real hosts, gives a stdio server a reduced environment: hand on what uv needs.
    passthrough = [k for k in os.environ if k.startswith("UV_") or k in ("SSL_CERT_FILE", "SSL_CERT_DIR")]
    env_args = [a for k in passthrough for a in ("-e", f"{k}={os.environ[k]}")]
    env_args += [a for k, v in config["env"].items() if expand(v) for a in ("-e", f"{k}={expand(v)}")]
    env_args += ["-e", f"XDG_STATE_HOME={clean_env()['XDG_STATE_HOME']}"]  # the test session's state, not the user's
    command = [expand(config["command"]), *(expand(a) for a in config["args"])]
    # The first start builds the bundle's environment and compiles it (a host waits for that once): under a
    # loaded CI run it took longer than the Inspector's default 15 s to answer initialize.
    inspector = [*node_tool("inspector"), "--cli", "--connect-timeout", "120000", *env_args]
    listed = ok_json(run([*inspector, *command, "--method", "tools/list"], timeout=300))
    assert {t["name"] for t in listed["tools"]} >= TOOLS


# ---- the MCP Inspector CLI, over stdio and over HTTP --------------------------------------------------


@pytest.fixture(scope="module")
def demo_http() -> Iterator[HttpServer]:
    with http_server(["--demo"], env={"FRAMES_MCP_AUTH_TOKEN": TOKEN, "FRAMES_MCP_WAIT_SECONDS": "30"}) as s:
        yield s


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest) -> list[str]:
    """How the Inspector reaches a demo server: spawn the console script, or the HTTP URL with the token."""
    node_tool("inspector")  # without it the test skips: before a demo server is started for nothing
    if request.param == "stdio":
        return [console_script(), "--demo"]
    server: HttpServer = request.getfixturevalue("demo_http")
    return [server.url, "--transport", "http", "--header", f"Authorization: Bearer {TOKEN}"]


def ask_inspector(target: list[str], *method: str) -> Any:
    return ok_json(run([*node_tool("inspector"), "--cli", *target, "--method", *method]))


def test_inspector_lists_the_tools_with_portable_schemas(target: list[str]) -> None:
    # --strict: the Inspector exits non-zero when a tool schema has a portability error.
    listed = ask_inspector(target, "tools/list", "--strict")
    assert {t["name"] for t in listed["tools"]} >= TOOLS


def test_inspector_strict_finds_nothing_unportable_in_any_schema(target: list[str]) -> None:
    # --strict also prints portability warnings (it exits 0 on them): none for input or output schemas.
    proc = run([*node_tool("inspector"), "--cli", *target, "--method", "tools/list", "--strict"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Warning: tool" not in proc.stderr, proc.stderr[-3000:]


def test_inspector_calls_list_styles(target: list[str]) -> None:
    result = ask_inspector(target, "tools/call", "--tool-name", "list_styles")
    assert result["isError"] is False
    assert len(result["structuredContent"]["styles"]) == 19


def test_inspector_generates_demo_frames(target: list[str]) -> None:
    # The whole paid path, against the built-in simulator: create, wait with progress, return the images.
    result = ask_inspector(
        target, "tools/call", "--tool-name", "generate_frames", "--tool-arg", "text_prompt=a paper boat", "num_images=1"
    )
    assert result["isError"] is False, result
    assert result["structuredContent"]["status"] == "SUCCEEDED"
    assert len(result["structuredContent"]["artifacts"]) == 1


# ---- the conformance suite ----------------------------------------------------------------------------


def baseline() -> set[str]:
    return set(re.findall(r"^\s*-\s+([\w-]+)\s*$", BASELINE.read_text(), flags=re.MULTILINE))


def test_conformance_baseline_lists_only_fixture_scenarios() -> None:
    # A generic scenario in the baseline would hide a real protocol bug.
    assert baseline()
    assert baseline().isdisjoint(GENERIC_SCENARIOS)


def test_conformance_server_scenarios(tmp_path: Path) -> None:
    # Against a plain loopback HTTP server (the suite sends no credentials): every failure must be in the
    # baseline, every baseline entry must still fail, and every generic scenario must pass.
    conformance = node_tool("conformance")
    with http_server() as server:
        proc = run(
            [*conformance, "server", "--url", server.url, "--expected-failures", str(BASELINE), "-o", str(tmp_path)],
            timeout=300,
        )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    statuses: dict[str, set[str]] = {}
    for checks in tmp_path.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", checks.parent.name)
        statuses.setdefault(scenario, set()).update(c["status"] for c in json.loads(checks.read_text()))
    assert {s for s, found in statuses.items() if found == {"SUCCESS"}} >= GENERIC_SCENARIOS
