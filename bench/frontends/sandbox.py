"""Child processes under resource limits: the build (entry code) and the scorer (robex only).

:func:`run_limited` starts ``python -m bench.frontends.sandbox --child TARGET MEMORY DEVICE FILES TASKS -- ARGS`` —
optionally behind an isolation wrapper (:mod:`bench.frontends.isolation`) — in its own session, with a wall-clock
timeout after which the whole process group is killed, inside a cgroup v2 of its own where the system delegates one
(memory that counts tmpfs and page cache, a process count) and under a watchdog that kills it when its processes
and threads outnumber the limit (:mod:`bench.frontends.limits`). The child sets its resource limits *before*
importing anything else — address space (``RLIMIT_AS``; ``RLIMIT_DATA`` with CUDA, whose driver reserves huge
virtual ranges), the size of any file it writes (``RLIMIT_FSIZE``), its process count (``RLIMIT_NPROC``, in the
sandbox's user namespace) and no core dumps — then runs the target: ``cli`` (the ordinary ``robex`` command
line), ``build`` (:func:`bench.frontends.build.build_main`) or ``rescore``
(:func:`bench.frontends.rescore.rescore_main`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bench.registry import Registry

if TYPE_CHECKING:
    from bench.running.progress import ProgressEvent

GIB = 1024**3
MIB = 1024**2
SANDBOX_ENV = "ROBEX_SANDBOXED"
# Importing torch (with its CUDA libraries, mapped even on CPU) and robex reserves about 3.3 GiB of
# address space before any work (VmPeak measured with torch 2.x on Linux x86-64; under RLIMIT_AS of
# 3.25 GiB the import fails inside torch). An address-space limit below this cannot run anything.
MIN_MEMORY_BYTES = 4 * GIB
MAX_READ_LINE = 64 * 1024  # a longer line is read in pieces: no single read of the child's output is unbounded


def default_tasks() -> int:
    """The default limit on a child's processes and threads: room for torch's thread pools (two per CPU) and a
    few worker processes, far below what a fork bomb reaches."""
    return 128 + 8 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    """Resource limits of a child process.

    Attributes:
        timeout_s: Wall-clock limit; the process group is killed when it is exceeded.
        memory_bytes: Memory limit; ``0`` disables it. It covers the child's address space *and* its private
            ``tmpfs`` folders (see :attr:`tmpfs_bytes`), and is the cgroup's ``memory.max`` where there is one.
        file_bytes: Largest file the child may write (``RLIMIT_FSIZE``).
        tasks: Most processes and threads the child may run at once.
    """

    timeout_s: float = 3600.0
    memory_bytes: int = 16 * GIB
    file_bytes: int = GIB
    tasks: int = field(default_factory=default_tasks)

    def __post_init__(self) -> None:
        if 0 < self.memory_bytes < MIN_MEMORY_BYTES:
            raise ValueError(
                f"--memory-gb {self.memory_bytes / GIB:g} is too small: importing torch alone reserves about 3.3 GiB "
                f"of address space, so the evaluation needs at least {MIN_MEMORY_BYTES / GIB:g} GiB (0: no limit)"
            )
        if self.file_bytes < MIB or self.tasks < 16:
            raise ValueError(f"file_bytes ({self.file_bytes}) must be at least 1 MiB and tasks ({self.tasks}) 16")

    @property
    def tmpfs_bytes(self) -> int:
        """Size of each private ``tmpfs`` of a sandbox (``/tmp``, ``/dev/shm``): 1/32 of the memory limit, between
        32 and 512 MiB (512 MiB without a memory limit)."""
        if self.memory_bytes <= 0:
            return 512 * MIB
        return max(32 * MIB, min(512 * MIB, self.memory_bytes // 32))

    @property
    def address_space_bytes(self) -> int:
        """Address-space limit of each process: the memory limit less what the private ``tmpfs`` folders may
        hold, so that memory and ``tmpfs`` together stay within ``memory_bytes`` (``0``: no limit)."""
        if self.memory_bytes <= 0:
            return 0
        return self.memory_bytes - len(PRIVATE_TMPFS) * self.tmpfs_bytes


PRIVATE_TMPFS = ("/tmp", "/dev/shm")  # noqa: S108 - fresh tmpfs mounts inside the sandbox, not the host's


@dataclass(frozen=True)
class SandboxResult:
    """How a child process ended."""

    returncode: int | None
    timed_out: bool
    wall_time_s: float
    output_tail: str
    tasks_exceeded: int = 0  # how many processes and threads the watchdog counted when it killed the child

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the process (``SIGKILL``, ``SIGSEGV``, ...), if one did."""
        if self.returncode is None or self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def explain(self, limits: Limits) -> str:
        """One sentence on how the process ended."""
        if self.timed_out:
            return f"exceeded the time limit of {limits.timeout_s:g} s and was killed"
        if self.tasks_exceeded:
            return (
                f"exceeded the limit of {limits.tasks} processes and threads ({self.tasks_exceeded} counted) "
                "and was killed"
            )
        name = self.signal_name
        if name is None and self.returncode is not None and self.returncode > 128:
            with contextlib.suppress(ValueError):  # a namespace's init reports its child's signal as 128 + n
                name = signal.Signals(self.returncode - 128).name
        if name:
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        if self.returncode == 0:
            return "finished"
        return f"exited with status {self.returncode}{self._hint(limits)}"

    def _hint(self, limits: Limits) -> str:
        tail = self.output_tail
        if "MemoryError" in tail or "Cannot allocate memory" in tail:
            return f" (it hit the memory limit of {limits.memory_bytes / GIB:g} GiB)"
        if "File too large" in tail:
            return f" (it wrote a file over the size limit of {limits.file_bytes / MIB:g} MiB)"
        if "No space left on device" in tail:
            return f" (it filled a private tmpfs, limited to {limits.tmpfs_bytes / MIB:g} MiB each)"
        if "Resource temporarily unavailable" in tail:
            return f" (it hit the limit of {limits.tasks} processes and threads)"
        return ""


def _pump(
    stream: IO[bytes], tail: deque[str], echo: IO[str] | None, on_progress: Callable[[ProgressEvent], None] | None
) -> None:
    """Read the child's output line by line (at most :data:`MAX_READ_LINE` bytes at a time): a progress line
    (:func:`bench.running.progress.parse_event`, strict) goes to ``on_progress`` as data and nowhere else; any
    other line is kept in ``tail`` and echoed."""
    from bench.running.progress import parse_event

    for raw in iter(lambda: stream.readline(MAX_READ_LINE), b""):
        line = raw.decode("utf-8", errors="replace")
        event = parse_event(line)
        if event is not None:
            if on_progress is not None:
                on_progress(event)
            continue
        tail.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()
    stream.close()


def run_limited(
    argv: Sequence[str],
    limits: Limits,
    *,
    echo: IO[str] | None = None,
    device: str = "cpu",
    tail_lines: int = 60,
    target: str = "cli",
    wrapper: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> SandboxResult:
    """Run child ``target`` with ``argv`` under ``limits``; never raises for what the child does.

    ``wrapper`` (an isolation command line ending in ``--``) is put in front of the Python command;
    ``env`` replaces the environment (default: this process's, marked as sandboxed). Output is kept (last
    ``tail_lines`` lines) and optionally echoed; the child's progress lines are parsed strictly and handed to
    ``on_progress`` as data, never echoed or kept. ``RLIMIT_NPROC`` is set only behind a wrapper (in the sandbox's
    user namespace it counts the sandbox's tasks; outside it would count all of this user's).
    """
    from bench.frontends.limits import TaskWatchdog, create_cgroup

    child = [
        sys.executable,
        "-m",
        "bench.frontends.sandbox",
        "--child",
        target,
        str(int(limits.address_space_bytes)),
        "cuda" if device.startswith("cuda") else "cpu",
        str(int(limits.file_bytes)),
        str(int(limits.tasks) if wrapper else 0),
        "--",
        *argv,
    ]
    environment = dict(env) if env is not None else {**os.environ, SANDBOX_ENV: "1", "PYTHONUNBUFFERED": "1"}
    cgroup = create_cgroup(limits.memory_bytes, limits.tasks)
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [*(cgroup.wrapper() if cgroup else ()), *wrapper, *child],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=environment,
            cwd=cwd,
        )
        tail: deque[str] = deque(maxlen=tail_lines)
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, tail, echo, on_progress), daemon=True)
        reader.start()
        watchdog = TaskWatchdog(proc.pid, limits.tasks, lambda: _kill_group(proc, wait=False))
        watchdog.start()
        timed_out = False
        try:
            proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            watchdog.stop()
        reader.join(timeout=10)
    finally:
        if cgroup is not None:
            cgroup.close()
    return SandboxResult(
        proc.returncode, timed_out, time.perf_counter() - start, "".join(tail), tasks_exceeded=watchdog.exceeded
    )


def _kill_group(proc: subprocess.Popen[bytes], *, wait: bool = True) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if wait:
        proc.wait()


def _cli(argv: list[str]) -> int:
    from bench.cli import main

    return main(argv)


def _build(argv: list[str]) -> int:
    from bench.frontends.build import build_main

    return build_main(argv)


CHILD_TARGETS: Registry[Callable[[list[str]], int]] = Registry("sandbox child target")
CHILD_TARGETS.add("cli", _cli)
CHILD_TARGETS.add("build", _build)


def _rescore(argv: list[str]) -> int:
    from bench.frontends.rescore import rescore_main

    return rescore_main(argv)


CHILD_TARGETS.add("rescore", _rescore)


def _cap(kind: int, value: int) -> None:
    import resource

    _soft, hard = resource.getrlimit(kind)
    cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (cap, cap))


def child_main(argv: list[str]) -> int:
    """Entry point of a limited child: limits first, then the target."""
    import resource

    target, memory, device, files, tasks, sep, *rest = argv
    if sep != "--":
        raise SystemExit(
            "usage: python -m bench.frontends.sandbox --child TARGET MEMORY_BYTES DEVICE FILE_BYTES TASKS -- ARGS..."
        )
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _cap(resource.RLIMIT_FSIZE, int(files))
    if int(tasks) > 0:
        _cap(resource.RLIMIT_NPROC, int(tasks))
    limit = int(memory)
    if limit > 0:
        _cap(resource.RLIMIT_DATA if device == "cuda" else resource.RLIMIT_AS, limit)
        try:  # import torch first, so that a limit too small for it is reported as such
            import torch  # noqa: F401
        except (ImportError, MemoryError, SystemError) as exc:  # torch's import maps ~3.3 GiB of address space
            sys.stderr.write(
                f"robex: importing torch failed under the memory limit of {limit / GIB:g} GiB ({exc!r}); "
                f"torch needs about 3.3 GiB of address space to load: raise --memory-gb (at least "
                f"{MIN_MEMORY_BYTES / GIB:g})\n"
            )
            return 1
    return CHILD_TARGETS.get(target)(rest)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child_main(sys.argv[2:]))
    raise SystemExit("bench.frontends.sandbox is run by `robex submit`; use that command")
