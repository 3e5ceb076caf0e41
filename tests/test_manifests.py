"""Install manifests: each agrees with pyproject's version, with the server's tools and with its own format."""

from __future__ import annotations

import copy
import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client

from frames_mcp.config import Settings
from frames_mcp.server.app import build_server

from ._tools import REPO

pytestmark = pytest.mark.anyio

VERSION = version("frames-mcp")  # pyproject.toml is the one place the version is written by hand
MANIFESTS = REPO / "manifests"
# The registry's published schema, vendored (a release runs these tests where ../shared does not exist).
REGISTRY_SCHEMA = REPO / "tests" / "schemas" / "server.schema.2025-12-11.json"
CLIENT_CONFIGS = ["claude_desktop_config.json", "vscode/mcp.json", "cursor/mcp.json"]


def load(name: str) -> Any:
    return json.loads((MANIFESTS / name).read_text())


def stdio_entry(config: dict[str, Any]) -> dict[str, Any]:
    """The frames-mcp entry of a client config (VS Code says `servers`, the others `mcpServers`)."""
    return dict((config.get("servers") or config["mcpServers"])["frames-mcp"])


def registry_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(REGISTRY_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


# ---- one version --------------------------------------------------------------------------------------


def test_bundle_manifest_has_the_package_version() -> None:
    assert load("manifest.json")["version"] == VERSION, "manifests/manifest.json: set version to pyproject's"


def test_registry_entry_and_its_package_have_the_package_version() -> None:
    server = load("server.json")
    assert server["version"] == VERSION
    assert [p["version"] for p in server["packages"]] == [VERSION]


@pytest.mark.parametrize("name", CLIENT_CONFIGS)
def test_client_configs_install_the_package_version(name: str) -> None:
    # `uvx frames-mcp@<version>`: a client installs exactly the release these files were written for.
    entry = stdio_entry(load(name))
    assert entry["command"] == "uvx"
    assert entry["args"] == [f"frames-mcp@{VERSION}"]


def test_readme_install_commands_use_the_package_version() -> None:
    pinned = set(re.findall(r"frames-mcp@([0-9][^\s\"'`,\]]*)", (REPO / "README.md").read_text()))
    assert pinned == {VERSION}


# ---- registry server.json -----------------------------------------------------------------------------


def test_registry_entry_validates_against_the_registry_schema() -> None:
    errors = [e.message for e in registry_validator().iter_errors(load("server.json"))]
    assert errors == []


def test_the_schema_check_would_catch_a_broken_entry() -> None:
    # Guards the test above against passing vacuously: the registry caps descriptions at 100 characters.
    broken = copy.deepcopy(load("server.json"))
    broken["description"] = "x" * 101
    assert not registry_validator().is_valid(broken)


def test_registry_entry_runs_the_pypi_package_with_uvx() -> None:
    (package,) = load("server.json")["packages"]
    assert (package["registryType"], package["identifier"], package["runtimeHint"]) == ("pypi", "frames-mcp", "uvx")
    assert package["transport"] == {"type": "stdio"}
    token = {v["name"]: v for v in package["environmentVariables"]}["USEAPI_TOKEN"]
    assert token["isSecret"] is True
    assert token["isRequired"] is True


def test_readme_carries_the_registry_ownership_marker() -> None:
    # The registry checks that the PyPI description (our README) names the server: `mcp-name: <name>`.
    assert f"mcp-name: {load('server.json')['name']}" in (REPO / "README.md").read_text()


# ---- MCP Bundle manifest.json ---------------------------------------------------------------------------


def test_bundle_passes_the_token_from_a_sensitive_user_setting() -> None:
    manifest = load("manifest.json")
    assert manifest["manifest_version"] == "0.4"
    assert manifest["server"]["type"] == "uv"
    env = manifest["server"]["mcp_config"]["env"]
    assert env["USEAPI_TOKEN"] == "${user_config.useapi_token}"
    token = manifest["user_config"]["useapi_token"]
    assert token["sensitive"] is True
    assert token["required"] is True


def test_bundle_user_settings_are_all_used() -> None:
    # A setting the user fills in but mcp_config never passes on would silently do nothing.
    manifest = load("manifest.json")
    used = set(re.findall(r"\$\{user_config\.(\w+)\}", json.dumps(manifest["server"]["mcp_config"])))
    assert used == set(manifest["user_config"])


async def test_bundle_lists_the_servers_tools() -> None:
    # Claude Desktop shows the manifest's tool list before install: it must be the server's real one.
    async with Client(build_server(Settings())) as c:
        served = {t.name for t in (await c.list_tools()).tools}
    assert {t["name"] for t in load("manifest.json")["tools"]} == served


# ---- client configs -----------------------------------------------------------------------------------


def test_vscode_asks_for_the_token_as_a_password_input() -> None:
    # VS Code keeps `password: true` inputs in its secret storage, so the file holds no secret.
    config = load("vscode/mcp.json")
    inputs = {i["id"]: i for i in config["inputs"]}
    entry = stdio_entry(config)
    assert entry["type"] == "stdio"
    (input_id,) = re.findall(r"\$\{input:([\w-]+)\}", entry["env"]["USEAPI_TOKEN"])
    assert inputs[input_id]["password"] is True


def test_cursor_reads_the_token_from_the_environment() -> None:
    assert stdio_entry(load("cursor/mcp.json"))["env"]["USEAPI_TOKEN"] == "${env:USEAPI_TOKEN}"


@pytest.mark.parametrize("name", [*CLIENT_CONFIGS, "manifest.json", "server.json"])
def test_no_manifest_names_a_local_path(name: str) -> None:
    text = (MANIFESTS / name).read_text()
    assert not re.search(r"(/home/|/root/|/Users/|/work/|C:\\\\)", text)


def test_every_manifest_is_listed_here() -> None:
    # A new manifest file must get its version check above.
    found = {str(p.relative_to(MANIFESTS)) for p in Path(MANIFESTS).rglob("*.json")}
    assert found == {*CLIENT_CONFIGS, "manifest.json", "server.json"}
