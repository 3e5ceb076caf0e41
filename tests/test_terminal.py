"""`frames-mcp doctor` and `frames-mcp generate`: the installed console script, run as a person would.

Both run against the built-in simulator (--demo) or a loopback one, through the same session and jobs
service as the MCP server.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from frames_mcp.simulator import Simulator
from frames_mcp.simulator._app import SIM_JWT_PREFIX, SIM_PASSWORD_PREFIX

from ._tools import clean_env, frames_mcp_argv


def frames_mcp(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        frames_mcp_argv(*args), env=clean_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def test_doctor_in_demo_mode_passes_and_shows_emails_and_max_jobs() -> None:
    proc = frames_mcp("doctor", "--demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo@frames.local: maxJobs 5" in proc.stdout
    assert "GET /accounts answered in" in proc.stdout
    assert "demo@frames.local: 100000 of 100000 left" in proc.stdout  # GET features: nothing spent yet


def test_doctor_never_prints_the_passwords_or_jwts_the_accounts_answer_holds(sim: Simulator) -> None:
    # The simulator answers GET /accounts as useapi does, with each account's password and JWT.
    proc = frames_mcp("doctor", USEAPI_TOKEN=sim.config.token, USEAPI_BASE_URL=sim.base_url)  # type: ignore[attr-defined]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "maxJobs" in proc.stdout
    for secret in (SIM_PASSWORD_PREFIX, SIM_JWT_PREFIX, sim.config.token):
        assert secret not in proc.stdout + proc.stderr


def test_doctor_without_a_token_says_so_and_fails() -> None:
    proc = frames_mcp("doctor")
    assert proc.returncode == 1
    assert "PROBLEM  token" in proc.stdout and "USEAPI_TOKEN" in proc.stdout


def test_doctor_reports_an_unusable_output_directory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    proc = frames_mcp("doctor", "--demo", FRAMES_MCP_OUTPUT_DIR=str(blocked / "images"))
    assert proc.returncode == 1
    assert "PROBLEM  output directory" in proc.stdout


def test_doctor_reports_where_the_store_is_and_what_it_holds(tmp_path: Path) -> None:
    # The store is where every task of this install lives: doctor names it and reads it, writing nothing.
    db = tmp_path / "state.db"
    proc = frames_mcp("doctor", "--demo", FRAMES_MCP_STORE="sqlite:///" + str(db).lstrip("/"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"ok       store              sqlite at {db}; no task recorded yet" in proc.stdout


def test_doctor_reports_a_store_that_cannot_be_opened(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    proc = frames_mcp("doctor", "--demo", FRAMES_MCP_STORE="sqlite:///" + str(blocked / "state.db").lstrip("/"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "PROBLEM  store" in proc.stdout and "FRAMES_MCP_STORE" in proc.stdout


def test_doctor_reports_a_wrong_token(sim: Simulator) -> None:
    proc = frames_mcp("doctor", USEAPI_TOKEN="user:1-wrong", USEAPI_BASE_URL=sim.base_url)  # type: ignore[attr-defined]
    assert proc.returncode == 1
    assert "PROBLEM  token and accounts" in proc.stdout


def test_generate_saves_the_images_and_prints_every_url(tmp_path: Path) -> None:
    proc = frames_mcp("generate", "a paper boat on a pond", "--demo", "--style", "vivid", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    urls = proc.stdout.split()
    assert len(urls) == 4 and all(u.startswith("http://127.0.0.1:") for u in urls)  # stdout: URLs only
    saved = sorted(tmp_path.glob("*.png"))
    assert len(saved) == 4
    assert all(Image.open(io.BytesIO(p.read_bytes())).format == "PNG" for p in saved)
    assert "taskId user:" in proc.stderr and "100%" in proc.stderr  # the progress bar reached the end


@pytest.mark.parametrize("args", [["generate", ""], ["generate", "x" * 1001], ["generate", "a kite", "--seed", "0"]])
def test_generate_refuses_what_the_endpoint_would_with_status_2(args: list[str], tmp_path: Path) -> None:
    proc = frames_mcp(*args, "--demo", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stdout == "" and "frames-mcp generate:" in proc.stderr
    assert list(tmp_path.iterdir()) == []
