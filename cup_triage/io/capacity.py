"""What a batch can count on before it starts: the CPUs this process may use, and roughly how
many cases its input holds (for a progress bar with a total and an estimated time left)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from .load import case_files

CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus() -> int:
    """The CPUs this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota
    (`cpu.max` of its cgroup and every parent, as containers and `systemd-run -p CPUQuota`
    set it). A quota of 1.5 CPUs counts as 1: a second worker would only be throttled."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, int(quota))
    return max(1, cpus)


def default_jobs(cpus: int | None = None, busy: int | None = None) -> int:
    """Worker processes for a batch when --jobs is not given: the CPUs this process may use,
    less those other work keeps busy right now (`busy_cpus`). Workers gain only from a CPU
    with nothing else to do: where other work filled both CPUs of the project's machine, two
    workers and the process feeding them scored 3,000 cases later than one process, every
    time (load average 4-5: 9.9-11.8 s against 5.5-10.1 s); with a CPU free they scored
    them in half the time (3.4 s against 7.3 s, bench/bench.py at 05:40 UTC)."""
    cpus = available_cpus() if cpus is None else cpus
    busy = busy_cpus() if busy is None else busy
    return max(1, min(cpus, cpus - busy))


def busy_cpus(samples: int = 5, interval: float = 0.002) -> int:
    """How many other processes are running now: the fewest of a few readings of the
    runnable count in /proc/loadavg, this process left out. Not the load average, which
    is a minute's history: a machine that just finished other work (a previous batch)
    would still look busy. 0 where it cannot be read."""
    fewest = None
    for sample in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        fewest = running if fewest is None else min(fewest, running)
        if sample + 1 < samples:
            time.sleep(interval)
    return max(0, (fewest or 1) - 1)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, membership: Path | None = None) -> float | None:
    """The tightest cgroup v2 CPU quota over this process's cgroup and its parents, in CPUs;
    None without a quota (or without cgroup v2)."""
    try:
        lines = (membership or Path("/proc/self/cgroup")).read_text().splitlines()
    except OSError:
        return None
    # cgroup v2 has a single line "0::/path"; v1 lines name their controllers.
    paths = [line[3:] for line in lines if line.startswith("0::")]
    if not paths:
        return None
    tightest = None
    folder = root / paths[0].lstrip("/")
    while True:
        quota = _quota(folder / "cpu.max")
        if quota is not None:
            tightest = quota if tightest is None else min(tightest, quota)
        if folder == root or root not in folder.parents:
            return tightest
        folder = folder.parent


def _quota(path: Path) -> float | None:
    try:
        limit, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if limit == "max":
        return None
    try:
        return int(limit) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


_LIST_ITEM = re.compile(rb"^- ", re.MULTILINE)


def estimated_cases(paths: Iterable[Path]) -> int | None:
    """About how many cases the inputs hold, from a quick look (lines of a CSV export or a
    JSON-lines file, top-level items of a YAML list, one per other file); None when some
    input cannot be looked at. Used for a progress bar, never for a decision."""
    total = 0
    for item in case_files(paths):
        if not isinstance(item, Path):
            return None
        try:
            data = item.read_bytes()
        except OSError:
            return None
        suffix = item.suffix.lower()
        if suffix == ".csv":
            total += max(0, data.count(b"\n") - 1 + (not data.endswith(b"\n") and bool(data)))
        elif suffix in (".yaml", ".yml"):
            total += len(_LIST_ITEM.findall(data)) or 1
        else:
            total += 1
    return total
