"""The layers of frames_mcp, as its imports show them: useapi at the bottom, jobs and media beside each other on
it, and server, the only package that speaks MCP, on top. A test per rule, read from the source's own imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "frames_mcp"

# What each part of frames_mcp may import from the rest of frames_mcp (its own modules always).
ALLOWED = {
    "useapi": set(),
    "store": set(),  # plain JSON-able records: nothing of useapi, jobs, media or the server
    "jobs": {"useapi", "store"},
    "media": {"useapi"},
    "simulator": {"useapi"},  # the documented id forms and limits, nothing of the client
    "config": {"useapi", "store"},  # FRAMES_MCP_STORE's accepted forms
    "session": {"useapi", "jobs", "store", "config", "simulator"},  # a process's connection: no MCP surface
}
# Who may import the mcp SDK: the MCP surface and the command line that starts it.
MCP_IMPORTERS = ("server", "cli")
# Modules split out of a larger one, and the module they were split from, which builds on them (never the reverse).
SPLITS = {
    "useapi/exchange.py": "frames_mcp.useapi.client",
    "jobs/recovery.py": "frames_mcp.jobs.service",
    "simulator/_create.py": "frames_mcp.simulator._app",
}


def _imports(path: Path) -> set[str]:
    """The absolute module names a file imports (top-level and inside functions alike)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _part(path: Path) -> str:
    """`useapi` for frames_mcp/useapi/client.py, `cli` for frames_mcp/cli.py."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_mcp_surface_imports_mcp(path: Path) -> None:
    speaks_mcp = {m for m in _imports(path) if m == "mcp" or m.startswith("mcp.")}
    if _part(path) not in MCP_IMPORTERS:
        assert not speaks_mcp, f"{path.name} imports {sorted(speaks_mcp)}; only server/ and cli.py may"


@pytest.mark.parametrize(
    "path", [p for p in _sources() if _part(p) in ALLOWED], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_each_layer_imports_only_the_layers_below_it(path: Path) -> None:
    part = _part(path)
    used = {m.split(".")[1] for m in _imports(path) if m.startswith("frames_mcp.") and len(m.split(".")) > 1}
    strays = used - ALLOWED[part] - {part, "__version__"}
    assert not strays, f"{path.relative_to(PACKAGE)} ({part}) imports frames_mcp.{sorted(strays)}"


@pytest.mark.parametrize(("part", "above"), SPLITS.items(), ids=list(SPLITS))
def test_a_split_part_does_not_import_the_module_built_on_it(part: str, above: str) -> None:
    used = {m for m in _imports(PACKAGE / part) if m == above or m.startswith(f"{above}.")}
    assert not used, f"{part} imports {sorted(used)}, which is built on it"


def test_the_core_runs_without_loading_the_sdk() -> None:
    # The import rules above read the source; this one runs it: the upstream client, the jobs service and the
    # media code load in a process where the mcp package never gets imported.
    code = (
        "import sys, frames_mcp.useapi.client, frames_mcp.useapi.exchange, frames_mcp.jobs.service, "
        "frames_mcp.jobs.recovery, frames_mcp.media.delivery, frames_mcp.media.sources, frames_mcp.store, "
        "frames_mcp.session; "
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
