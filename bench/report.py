"""Write a benchmark's section into BENCHMARKS.md between its own marks."""

from __future__ import annotations

from pathlib import Path


def write_marked(path: Path, section: str, script: str) -> None:
    """Replace the part of `path` between the marks of `script`, or append it."""
    start, end = f"<!-- {script}: start -->", f"<!-- {script}: end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{section}{end}\n"
    before, marked, after = text.partition(start)
    if marked and end in after:
        text = before + block + after.split(end, 1)[1].lstrip("\n")
    else:
        text = f"{text.rstrip()}\n\n{block}"
    path.write_text(text)
