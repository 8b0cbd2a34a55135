"""Process trees on Linux: a tree's processes and memory, and cgroup v2 memory groups.

The sandbox (:mod:`benchmarks.sandbox`) holds a detector's memory limit for its whole tree with
these: a :class:`Cgroup` where the harness may create one, else :func:`tree_memory` polled by a
watchdog.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (a sandbox's tree: the pid namespace keeps it whole)."""
    children, out, todo = _parents(), [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def tree_memory(pid: int) -> int:
    """Bytes the process tree at ``pid`` holds: the sum of each process's proportional set size
    (shared pages split among their users, so forked children are not counted twice)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            try:
                total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf(
                    "SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                pass
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


# -- cgroup v2 -------------------------------------------------------------------------------

@functools.cache
def cgroup_parent() -> Path | None:
    """This process's cgroup v2 folder, if it delegates the memory controller to children we
    may create; else None (the watchdog holds the limit)."""
    try:
        own = next(line[3:].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.startswith("0::"))
        mount = next(line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                     if line.split()[2:3] == ["cgroup2"])
    except (OSError, StopIteration):
        return None
    folder = Path(mount) / own.lstrip("/")
    try:
        delegated = "memory" in (folder / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    return folder if delegated and os.access(folder, os.W_OK) else None


@dataclass
class Cgroup:
    path: Path

    @classmethod
    def create(cls, limit: int) -> Cgroup | None:
        parent = cgroup_parent()
        if parent is None:
            return None
        path = Path(tempfile.mkdtemp(prefix="snoopbench-", dir=parent))
        try:
            (path / "memory.max").write_text(str(limit))
            (path / "memory.oom.group").write_text("1")
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    def join(self) -> None:
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def oom_killed(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value) > 0
        return False

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1")

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                self.kill()
                time.sleep(0.02)
