"""The bundle's user settings, as an MCPB host hands them to the server.

An MCPB host (Claude Desktop) fills `${user_config.*}` in mcp_config with what the user typed. The substitution
here is mcpb's own (`getMcpConfigForManifest` of the pinned @anthropic-ai/mcpb), run under Node 22, so these
tests see the exact environment a host would start frames-mcp with.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from annotated_types import Ge, Le

from frames_mcp.config import Settings
from frames_mcp.useapi.errors import ConfigurationError

from ._tools import REPO, node_env, node_tool

MANIFEST = json.loads((REPO / "manifests" / "manifest.json").read_text())
WAIT = MANIFEST["user_config"]["wait_seconds"]

# mcpb's substitution, fed the manifest and a user's settings on stdin.
SUBSTITUTE = """
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { manifest, userConfig } = JSON.parse(input);
const config = await getMcpConfigForManifest({
  manifest, userConfig, extensionPath: "/bundle", systemDirs: {}, pathSeparator: "/",
});
process.stdout.write(JSON.stringify(config));
"""


def host_env(**user: Any) -> dict[str, str]:
    """The environment mcp_config gives the server when the user typed `user` in the bundle's settings."""
    node = node_tool("mcpb")[0]  # the pinned Node 22 (and a check that `npm ci` ran)
    proc = subprocess.run(
        [node, "--input-type=module", "-e", SUBSTITUTE],
        input=json.dumps({"manifest": MANIFEST, "userConfig": {"useapi_token": "bundle-token", **user}}),
        cwd=REPO,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout)["env"])


def test_the_wait_setting_has_the_servers_bounds_and_default() -> None:
    # The host enforces min/max: they must be the server's own, or a value the form accepts stops the server.
    field = Settings.model_fields["wait_seconds"]
    bounds = {type(m): m for m in field.metadata}
    assert (WAIT["min"], WAIT["max"]) == (bounds[Ge].ge, bounds[Le].le)
    assert WAIT["default"] == field.default
    assert WAIT["type"] == "number", "MCPB has no integer type: number is the only numeric one"


@pytest.mark.parametrize(("typed", "seconds"), [(None, 45), (0, 0), (12, 12), (50, 50)])
def test_a_whole_number_of_seconds_reaches_the_server(typed: int | None, seconds: int) -> None:
    env = host_env(**({} if typed is None else {"wait_seconds": typed}))
    assert Settings.from_env(env).wait_seconds == seconds


def test_a_fractional_number_still_starts_the_server() -> None:
    # A number field accepts 12.5; the server waits whole seconds and must not refuse to start over it.
    assert Settings.from_env(host_env(wait_seconds=12.5)).wait_seconds == 12


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "51", "inf"])
def test_anything_else_is_still_refused_with_the_variable_named(value: str) -> None:
    # Rounding is for whole-number-ish input only: the bounds and the type check still hold.
    with pytest.raises(ConfigurationError, match="FRAMES_MCP_WAIT_SECONDS"):
        Settings.from_env({"FRAMES_MCP_WAIT_SECONDS": value})
