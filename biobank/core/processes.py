"""Tell whether a process recorded earlier, on this machine, has ended since."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessMark:
    """A process as a record names it: its host, its id and what tells it from a
    later process given the same id (`key`, "" where the system does not say)."""

    host: str
    pid: int
    key: str


def process_mark(pid: int | None = None) -> ProcessMark:
    """Return the mark of process `pid` (this process by default), as it runs now.

    On Linux the key is the machine's boot, the process's PID namespace and its
    start time in clock ticks since boot (/proc/<pid>/stat, field 22): a pid given
    again after the process ended, or after a restart of the machine, has another.
    """
    pid = os.getpid() if pid is None else pid
    started = _start_ticks(pid)
    namespace = _pid_namespace()
    boot = _boot_id()
    if started is None or not namespace or not boot:
        return ProcessMark(socket.gethostname(), pid, "")
    return ProcessMark(socket.gethostname(), pid, f"{boot}/{namespace}/{started}")


def has_ended(mark: ProcessMark) -> bool:
    """Return whether the process of `mark` is known to have ended.

    Only a process of this host can be looked at: one of another host (a worker
    on another machine sharing the database) is never found ended, nor one of
    another PID namespace of this host (another container, which sees other pids).
    A machine restarted since the mark was taken has ended every process of it.
    """
    if not mark.pid or mark.host != socket.gethostname():
        return False
    if not mark.key:
        return _no_such_process(mark.pid)

    try:
        boot, namespace, started = mark.key.split("/")
    except ValueError:
        return False  # not a key this module wrote
    # Where this process cannot read its own boot or namespace (a /proc mounted
    # with subset=pid, systemd's ProcSubset=pid), it cannot tell: never "ended".
    this_boot, this_namespace = _boot_id(), _pid_namespace()
    if not this_boot or not this_namespace:
        return False
    if boot != this_boot:
        return True
    if namespace != this_namespace:
        return False

    stat = _stat(mark.pid)
    if stat is None:
        # Gone, or hidden from this user (/proc mounted with hidepid): kill(pid, 0)
        # tells them apart.
        return _no_such_process(mark.pid)
    state, now = stat
    # A zombie has ended, though its parent has not reaped it yet:
    return state == "Z" or str(now) != started


def _start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _stat(pid: int) -> tuple[str, int] | None:
    """Return the state and the start time in clock ticks of process `pid`, or None
    where /proc does not show it (no such process, hidden, or not Linux)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces and parentheses itself:
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _pid_namespace() -> str:
    try:
        return os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return ""


def _boot_id() -> str:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def _no_such_process(pid: int) -> bool:
    """Whether no process has `pid` now, where /proc does not tell its start time.

    NB: a pid given to a new process since is taken for the recorded one, so its
    record waits for that process to end too.
    """
    if os.name != "posix":
        return False  # os.kill(pid, 0) would send Ctrl-C on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False
