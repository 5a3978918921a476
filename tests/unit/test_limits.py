"""Limits on a child's process tree: the watchdog counts processes and threads and kills a tree over its limit;
a cgroup v2 is made, filled and written as the kernel expects where the system delegates one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.frontends.limits import count_tasks, create_cgroup
from bench.frontends.sandbox import Limits, run_limited

THREADS = """
import threading, time
for _ in range(5):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
time.sleep(30)
"""


def test_count_tasks_counts_a_process_tree_and_its_threads(tmp_path: Path) -> None:
    (tmp_path / "threads.py").write_text(THREADS)
    tree = f"sleep 30 & sleep 30 & {sys.executable} {tmp_path / 'threads.py'} & wait"
    proc = subprocess.Popen(["/bin/sh", "-c", tree], start_new_session=True)
    try:
        expected = 1 + 2 + 6  # the shell, two sleeps, python with its 5 threads
        deadline = time.monotonic() + 30
        while count_tasks(proc.pid) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # nothing more appears
        assert count_tasks(proc.pid) == expected
        assert count_tasks(2**22 + 1) == 0  # no such process
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_child_spawning_more_tasks_than_its_limit_is_killed() -> None:
    spawn = ["/bin/sh", "-c", "for i in $(seq 60); do sleep 30 & done; wait"]  # stands in for the sandbox wrapper
    start = time.monotonic()
    result = run_limited([], Limits(timeout_s=60, tasks=16), wrapper=spawn)
    assert time.monotonic() - start < 30 and not result.timed_out
    assert result.tasks_exceeded > 16
    assert result.explain(Limits(tasks=16)).startswith("exceeded the limit of 16 processes and threads")


def _fake_cgroups(tmp_path: Path, subtree: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    own = root / "user.slice" / "robex.scope"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text(subtree)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/user.slice/robex.scope\n")
    return root, proc


@pytest.mark.parametrize("subtree", ["memory pids\n", ""])
def test_a_cgroup_gets_the_memory_limit_no_swap_and_the_task_limit(tmp_path: Path, subtree: str) -> None:
    root, proc = _fake_cgroups(tmp_path, subtree)
    group = create_cgroup(6 * 2**30, 99, root=root, proc_file=proc)
    assert group is not None and group.path.parent == root / "user.slice" / "robex.scope"
    assert (group.path / "memory.max").read_text() == str(6 * 2**30)
    assert (group.path / "memory.swap.max").read_text() == "0"
    assert (group.path / "pids.max").read_text() == "99"
    assert int((group.path / "cgroup.procs").read_text()) > 0  # the probe moved a process into it
    if not subtree:  # the controllers were enabled for the children
        assert (group.path.parent / "cgroup.subtree_control").read_text() == "+memory +pids"


def test_no_cgroup_where_the_hierarchy_is_not_unified_or_not_delegated(tmp_path: Path) -> None:
    root, proc = _fake_cgroups(tmp_path, "")
    (root / "user.slice" / "robex.scope" / "cgroup.subtree_control").unlink()
    (root / "user.slice" / "robex.scope" / "cgroup.subtree_control").mkdir()  # cannot be written: not delegated
    assert create_cgroup(6 * 2**30, 99, root=root, proc_file=proc) is None
    (root / "cgroup.controllers").unlink()  # a v1 or hybrid hierarchy
    assert create_cgroup(6 * 2**30, 99, root=root, proc_file=proc) is None
