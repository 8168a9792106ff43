"""What the benchmark sides share: figures, percentiles, windows, process memory."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

#: One run's figures, by name (e.g. ``{"messages_per_s": 12000.0}``).
Figures = dict[str, float]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        pass
    return found


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, now alive (Linux's /proc)."""
    found, stack = [], _children(pid)
    while stack:
        current = stack.pop()
        found.append(current)
        stack += _children(current)
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, MB."""
    return sum(rss_mb(each) for each in [pid, *descendants(pid)])


def cpu_s(pid: int) -> float:
    """CPU time (user + system) one process has used, seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # Fields 14 and 15 of stat (utime, stime), counted after the command's closing bracket.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU time of a process and all its descendants now alive, seconds."""
    return sum(cpu_s(each) for each in [pid, *descendants(pid)])
