"""What the benchmark scripts share: their command line, alternated runs, their section."""

from __future__ import annotations

import os
import shlex
import statistics
from collections.abc import Callable
from dataclasses import dataclass
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


def command_line(script: str, argv: list[str]) -> str:
    """Return the command that reproduces a run, with the database named but no password."""
    from bench.extraction import without_password

    command = f".venv/bin/python {script} " + shlex.join(argv)
    if os.environ.get("DATABASE_URL"):
        command = (
            f"DATABASE_URL={without_password(os.environ['DATABASE_URL'])} {command}"
        )
    return command


def alternate_runs(
    calls: list[Callable[[], float]], repeat: int, warm_up: bool = True
) -> list[list[float]]:
    """Run each call `repeat` times, in turns, after one untimed round if `warm_up`.

    Each call times its own part and returns the seconds, so that what it prepares
    or clears around that part is not counted.
    """
    if warm_up:
        for call in calls:
            call()
    seconds: list[list[float]] = [[] for _call in calls]
    for _round in range(repeat):
        for times, call in zip(seconds, calls, strict=True):
            times.append(call())
    return seconds


def publish(report: str, path: Path | None, script: str) -> None:
    """Print the report and, given a path, write it between the script's marks there."""
    print(report)  # noqa: T201
    if path is not None:
        write_marked(path, report, script)


@dataclass
class RatePair:
    """How many items the product and its baseline each did per second, timed alternately."""

    count: int
    product_s: list[float]
    baseline_s: list[float]

    @property
    def product_rate(self) -> float:
        return self.count / statistics.median(self.product_s)

    @property
    def baseline_rate(self) -> float:
        return self.count / statistics.median(self.baseline_s)

    @property
    def ratio(self) -> float:
        """The product's rate over the baseline's: 1.0 is as fast as the baseline."""
        return self.product_rate / self.baseline_rate


def bench_user(username: str, role: str | None = None):
    """Return the account a benchmark signs in as: a viewer (or `role`) of every project.

    Every query then carries the project scoping that real researchers' queries carry.
    """
    from django.contrib.auth import get_user_model

    from patients.models import Project, ProjectMembership, Role

    role = role or Role.VIEWER
    user, _ = get_user_model().objects.get_or_create(username=username)
    ProjectMembership.objects.filter(user=user).exclude(role=role).update(role=role)
    ProjectMembership.objects.bulk_create(
        [
            ProjectMembership(user=user, project=project, role=role)
            for project in Project.objects.exclude(memberships__user=user)
        ]
    )
    return user
