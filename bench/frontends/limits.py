"""Limits on a child process tree beyond the child's own ``RLIMIT_*`` (set in :mod:`bench.frontends.sandbox`).

- **A cgroup v2 of its own**, where the system delegates one (:func:`create_cgroup` probes: a unified
  hierarchy at ``/sys/fs/cgroup``, the ``memory`` and ``pids`` controllers enabled for this process's cgroup's
  children, a child cgroup this user may create and move a process into). Its ``memory.max`` counts what every
  process of the tree uses, ``tmpfs`` pages and page cache included; ``memory.swap.max`` is 0 and ``pids.max``
  caps processes and threads. The child enters it before it execs anything (a shell that writes its own pid to
  ``cgroup.procs``, then ``exec``); the cgroup is emptied and removed when the child ends.
- **A watchdog** (:class:`TaskWatchdog`) everywhere: every 0.2 s it counts the processes and threads of the
  child's tree from ``/proc`` and kills the tree when they outnumber the limit. ``RLIMIT_NPROC`` is the hard
  stop where the kernel enforces it; the kernel exempts the host's root user (a sandbox started by root runs as
  root's uid outside its namespace), and there the watchdog is what stops a fork bomb.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids")
_COUNTER = itertools.count()


@dataclass(frozen=True)
class Cgroup:
    """A cgroup v2 made for one child (see the module docstring)."""

    path: Path

    def wrapper(self) -> list[str]:
        """A command prefix that moves the process into this cgroup, then execs the rest of the command line."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path)]

    def close(self) -> None:
        """Kill whatever still runs in the cgroup, then remove it."""
        kill = self.path / "cgroup.kill"
        with contextlib.suppress(OSError):
            if kill.exists():
                kill.write_text("1")
            else:
                for pid in (self.path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
        for _ in range(50):  # the kernel frees an emptied cgroup shortly after its last process is reaped
            try:
                self.path.rmdir()
                return
            except OSError:
                if not self.path.exists():
                    return
                time.sleep(0.02)
        log.warning("could not remove the cgroup %s", self.path)


def own_cgroup(root: Path = CGROUP_ROOT, proc_file: Path = Path("/proc/self/cgroup")) -> Path | None:
    """This process's cgroup v2 folder, or ``None`` when ``root`` is not a unified (v2) hierarchy."""
    if not (root / "cgroup.controllers").is_file():
        return None
    try:
        lines = proc_file.read_text().splitlines()
    except OSError:
        return None
    path = next((line[3:] for line in lines if line.startswith("0::")), None)
    return None if path is None else root / path.lstrip("/")


def create_cgroup(
    memory_bytes: int, tasks: int, *, root: Path = CGROUP_ROOT, proc_file: Path = Path("/proc/self/cgroup")
) -> Cgroup | None:
    """A fresh child cgroup of this process's with ``memory.max`` (when ``memory_bytes`` > 0), no swap and
    ``pids.max``; ``None`` where the system does not let this user make one (then only the rlimits and the
    watchdog apply)."""
    own = own_cgroup(root, proc_file)
    if own is None:
        return None
    path = own / f"robex-{os.getpid()}-{next(_COUNTER)}"
    try:
        control = own / "cgroup.subtree_control"
        if not set(CONTROLLERS) <= set(control.read_text().split()):
            control.write_text(" ".join(f"+{c}" for c in CONTROLLERS))
        path.mkdir()
    except OSError as exc:
        log.debug("no cgroup for the child: %s", exc)
        return None
    group = Cgroup(path)
    try:
        if memory_bytes > 0:
            (path / "memory.max").write_text(str(int(memory_bytes)))
            with contextlib.suppress(FileNotFoundError):  # no swap accounting on this kernel: nothing to cap
                (path / "memory.swap.max").write_text("0")
        (path / "pids.max").write_text(str(int(tasks)))
        moved = subprocess.run([*group.wrapper(), "true"], capture_output=True, timeout=30, check=False)
        if moved.returncode != 0:
            raise OSError(moved.stderr.decode(errors="replace").strip() or "cannot move a process into it")
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("no cgroup for the child: %s", exc)
        group.close()
        return None
    return group


def _tree(pid: int) -> tuple[int, int] | None:
    """(processes, threads) of the tree rooted at ``pid``, walked down through each thread's ``children`` file of
    ``/proc`` (cost: the tree's size, not the host's); ``None`` where the kernel has no such files."""
    processes = threads = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:  # it ended meanwhile
            continue
        processes += 1
        threads += len(tids)
        for tid in tids:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
            except FileNotFoundError:
                if not os.path.exists(f"/proc/{p}/task/{tid}"):
                    continue  # the thread ended meanwhile
                return None  # a kernel without CONFIG_PROC_CHILDREN
            except OSError:
                continue
    return processes, threads


def _scan(pid: int) -> int:
    """Tasks of ``pid``'s tree from every process's ``/proc/<pid>/stat`` (parent pid and thread count)."""
    children: dict[int, list[int]] = {}
    threads: dict[int, int] = {}
    try:
        names = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        return 0
    for name in names:
        try:
            text = Path("/proc", name, "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ..., num_threads 18th
        children.setdefault(int(fields[1]), []).append(int(name))
        threads[int(name)] = int(fields[17])
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += threads.get(p, 0)
        todo.extend(children.get(p, ()))
    return total


def count_tasks(pid: int) -> int:
    """Processes and threads of the tree rooted at ``pid`` (``/proc`` of Linux; 0 where there is none)."""
    tree = _tree(pid)
    return tree[1] if tree is not None else _scan(pid)


class TaskWatchdog(threading.Thread):
    """Counts the processes and threads of ``pid``'s tree every ``interval`` seconds; over ``limit``, it records
    the count in :attr:`exceeded` and calls ``kill`` once."""

    def __init__(self, pid: int, limit: int, kill: Callable[[], None], interval: float = 0.2) -> None:
        super().__init__(daemon=True, name=f"robex-task-watchdog-{pid}")
        self.pid, self.limit, self.kill, self.interval = pid, limit, kill, interval
        self.exceeded = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Watch until stopped or the limit is exceeded."""
        while not self._stop_event.is_set():
            n = count_tasks(self.pid)
            if n > self.limit:
                self.exceeded = n
                self.kill()
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        """Stop watching (the child has ended)."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
