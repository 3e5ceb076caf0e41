"""What a release ships: the licence in the wheel and the sdist, and a release workflow that passes a linter.

jactionlint (a maintained fork of actionlint, with shellcheck for the `run:` scripts) comes from PyPI as a dev
dependency with its own binary, so CI lints .github/workflows/ on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from importlib.metadata import version as metadata_version
from pathlib import Path
from typing import Any

import pytest

from ._tools import REPO, require

WORKFLOWS = REPO / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yml"
LICENSE = (REPO / "LICENSE").read_text()
VENV_BIN = Path(sys.prefix) / "bin"


def lint(*argv: str) -> subprocess.CompletedProcess[str]:
    """jactionlint with the strictest profile, no network, shellcheck from this environment."""
    linter, shellcheck = VENV_BIN / "jactionlint", VENV_BIN / "shellcheck"
    require(linter.exists() and shellcheck.exists(), "jactionlint or shellcheck is missing: run `uv sync`")
    command = [str(linter), "--profile", "pedantic", "--no-online", f"--shellcheck={shellcheck}", "--no-color", *argv]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def facts() -> dict[str, Any]:
    """jactionlint's parsed view of the release workflow: events, jobs, permissions, steps."""
    proc = lint("--export-facts", str(RELEASE))
    assert proc.returncode == 0, proc.stderr
    (workflow,) = json.loads(proc.stdout)["workflows"]
    return dict(workflow)


# ---- the workflow -------------------------------------------------------------------------------------


def test_every_workflow_passes_the_linter() -> None:
    proc = lint()
    assert (proc.returncode, proc.stdout.strip()) == (0, ""), proc.stdout + proc.stderr


def test_the_linter_catches_a_broken_workflow(tmp_path: Path) -> None:
    # Guards the test above against passing vacuously: a job that needs a misspelt job is an error.
    broken = tmp_path / "release.yml"
    broken.write_text(RELEASE.read_text().replace("needs: build", "needs: biuld", 1))
    proc = lint(str(broken))
    assert proc.returncode != 0
    assert "biuld" in proc.stdout


def test_a_release_runs_on_version_tags_only() -> None:
    assert [(e["name"], e.get("filters")) for e in facts()["events"]] == [("push", {"tags": ["v*"]})]


def test_only_the_publishing_jobs_can_mint_an_oidc_token_or_write() -> None:
    # Trusted publishing (PyPI) and the registry's GitHub login need id-token; only the release job writes.
    scopes = {job["id"]: job["effective_permissions"]["scopes"] for job in facts()["jobs"]}
    assert scopes == {
        "build": {"contents": "read"},
        "pypi": {"id-token": "write"},
        "github-release": {"contents": "write"},
        "mcp-registry": {"contents": "read", "id-token": "write"},
    }


def test_the_release_publishes_each_artifact() -> None:
    # PyPI without a stored token, the .mcpb on the GitHub release, server.json to the registry.
    text = RELEASE.read_text()
    assert "uv publish --trusted-publishing always dist/*.whl dist/*.tar.gz" in text
    assert "manifests/pack-bundle.sh" in text
    assert 'gh release create "$TAG" dist/*.mcpb' in text
    assert "mcp-publisher publish manifests/server.json" in text
    assert "secrets." not in text


# ---- the licence --------------------------------------------------------------------------------------


def test_the_licence_is_the_mit_licence_pyproject_and_the_bundle_declare() -> None:
    bundle = json.loads((REPO / "manifests" / "manifest.json").read_text())
    assert LICENSE.startswith("MIT License\n")
    assert bundle["license"] == "MIT"
    assert 'license = "MIT"' in (REPO / "pyproject.toml").read_text()


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`uv build`, as the release workflow runs it."""
    require(shutil.which("uv") is not None, "uv is not on PATH")
    out = tmp_path_factory.mktemp("dist")
    proc = run(["uv", "build", "--out-dir", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_the_wheel_carries_the_licence(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert z.read(licence).decode() == LICENSE
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = Parser().parsestr(z.read(metadata).decode(), headersonly=True)
    assert headers["License-Expression"] == "MIT"
    assert headers.get_all("License-File") == ["LICENSE"]


def test_the_sdist_carries_the_licence(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as t:
        member = t.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/LICENSE")
        assert member is not None
        assert member.read().decode() == LICENSE


def test_the_wheel_installs_as_the_readme_says_and_runs(dist: Path, tmp_path: Path) -> None:
    # The README's install path that needs no PyPI release: `uv tool install dist/frames_mcp-*.whl`, then the
    # `frames-mcp` command (its dependencies still come from the package index, as for any install).
    (wheel,) = dist.glob("*.whl")
    env = {**os.environ, "UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
    install = subprocess.run(
        ["uv", "tool", "install", str(wheel)], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run(
        [str(tmp_path / "bin" / "frames-mcp"), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert version.stdout.strip() == f"frames-mcp {metadata_version('frames-mcp')}"
