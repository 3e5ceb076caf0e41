"""What every benchmark writes: a line about the machine, and its section of BENCHMARKS.md between two markers."""

from __future__ import annotations

import os
import platform
import re
from importlib.metadata import version
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine(*packages: str) -> str:
    """CPUs, OS, Python and the versions of `packages`, with the load average at the start of the run."""
    cpu = "unknown CPU"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    versions = ", ".join(f"{p} {version(p)}" for p in packages)
    load = f"; load average {os.getloadavg()[0]:.2f} at the start" if hasattr(os, "getloadavg") else ""
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {versions}{load}"
    )


def write_section(section: str, start: str, end: str) -> None:
    """Replace the text between `start` and `end` in BENCHMARKS.md with `section` (which carries the markers)."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    section = section.rstrip("\n")
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    BENCHMARKS.write_text(text)
