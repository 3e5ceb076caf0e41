"""What every benchmark writes: a line about the machine, and its section of BENCHMARKS.md between two markers."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Row:
    """One benchmark's figure beside the reference measured in the same run, and the goal it is held to."""

    name: str
    measured: str
    reference: str
    ratio: str
    goal: str
    met: bool | None  # None: no goal, shown for context


def met(value: bool | None) -> str:
    return "n/a" if value is None else "yes" if value else "**no**"


def rows_table(rows: list[Row]) -> list[str]:
    """The markdown table of `rows`, header included."""
    return [
        "| benchmark | measured | reference (same run) | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {r.name} | {r.measured} | {r.reference} | {r.ratio} | {r.goal} | {met(r.met)} |" for r in rows),
    ]


def rows_section(start: str, end: str, title: str, intro: str, rows: list[Row], notes: str | None) -> str:
    """A BENCHMARKS.md section of rows: its markers, the title, the paragraph saying how it was run, the table and
    the notes that read it (none: no notes)."""
    lines = [start, f"## {title}", "", intro, "", *rows_table(rows)]
    if notes:
        lines += ["", notes]
    return "\n".join([*lines, end]) + "\n"


def publish(section: str, start: str, end: str, *, write: bool) -> None:
    """Print the section and, unless told not to, put it into BENCHMARKS.md."""
    print(section)
    if write:
        write_section(section, start, end)
        print(f"written to {BENCHMARKS.name}", file=sys.stderr)
