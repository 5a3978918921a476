"""Child processes under resource limits: the build (entry code) and the scorer (robex only).

:func:`run_limited` starts ``python -m bench.frontends.sandbox --child TARGET MEMORY DEVICE -- ARGS`` — optionally
behind an isolation wrapper (:mod:`bench.frontends.isolation`) — in its own session, with a wall-clock timeout after
which the whole process group is killed. The child sets its address-space limit (``RLIMIT_AS``;
``RLIMIT_DATA`` with CUDA, whose driver reserves huge virtual ranges) and disables core dumps *before*
importing anything else, then runs the target: ``cli`` (the ordinary ``robex`` command line) or ``build``
(:func:`bench.frontends.build.build_main`).
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bench.registry import Registry

GIB = 1024**3
SANDBOX_ENV = "ROBEX_SANDBOXED"
# Importing torch (with its CUDA libraries, mapped even on CPU) and robex reserves about 3.3 GiB of
# address space before any work (VmPeak measured with torch 2.x on Linux x86-64; under RLIMIT_AS of
# 3.25 GiB the import fails inside torch). An address-space limit below this cannot run anything.
MIN_MEMORY_BYTES = 4 * GIB


@dataclass(frozen=True)
class Limits:
    """Resource limits of a child process.

    Attributes:
        timeout_s: Wall-clock limit; the process group is killed when it is exceeded.
        memory_bytes: Address-space limit; ``0`` disables it.
    """

    timeout_s: float = 3600.0
    memory_bytes: int = 16 * GIB

    def __post_init__(self) -> None:
        if 0 < self.memory_bytes < MIN_MEMORY_BYTES:
            raise ValueError(
                f"--memory-gb {self.memory_bytes / GIB:g} is too small: importing torch alone reserves about 3.3 GiB "
                f"of address space, so the evaluation needs at least {MIN_MEMORY_BYTES / GIB:g} GiB (0: no limit)"
            )


@dataclass(frozen=True)
class SandboxResult:
    """How a child process ended."""

    returncode: int | None
    timed_out: bool
    wall_time_s: float
    output_tail: str

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
        name = self.signal_name
        if name is None and self.returncode is not None and self.returncode > 128:
            with contextlib.suppress(ValueError):  # a namespace's init reports its child's signal as 128 + n
                name = signal.Signals(self.returncode - 128).name
        if name:
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"was killed by {name}{hint}"
        if self.returncode == 0:
            return "finished"
        memory = "MemoryError" in self.output_tail or "Cannot allocate memory" in self.output_tail
        hint = f" (it hit the memory limit of {limits.memory_bytes / GIB:g} GiB)" if memory else ""
        return f"exited with status {self.returncode}{hint}"


def _pump(stream: IO[bytes], tail: deque[str], echo: IO[str] | None) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
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
) -> SandboxResult:
    """Run child ``target`` with ``argv`` under ``limits``; never raises for what the child does.

    ``wrapper`` (an isolation command line ending in ``--``) is put in front of the Python command;
    ``env`` replaces the environment (default: this process's, marked as sandboxed). Output is kept (last
    ``tail_lines`` lines) and optionally echoed.
    """
    cmd = [
        *wrapper,
        sys.executable,
        "-m",
        "bench.frontends.sandbox",
        "--child",
        target,
        str(int(limits.memory_bytes)),
        "cuda" if device.startswith("cuda") else "cpu",
        "--",
        *argv,
    ]
    environment = dict(env) if env is not None else {**os.environ, SANDBOX_ENV: "1", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=environment,
        cwd=cwd,
    )
    tail: deque[str] = deque(maxlen=tail_lines)
    assert proc.stdout is not None
    reader = threading.Thread(target=_pump, args=(proc.stdout, tail, echo), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
    except BaseException:
        _kill_group(proc)
        raise
    reader.join(timeout=10)
    return SandboxResult(proc.returncode, timed_out, time.perf_counter() - start, "".join(tail))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
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


def child_main(argv: list[str]) -> int:
    """Entry point of a limited child: limits first, then the target."""
    import resource

    target, memory, device, sep, *rest = argv
    if sep != "--":
        raise SystemExit("usage: python -m bench.frontends.sandbox --child TARGET MEMORY_BYTES DEVICE -- ARGS...")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = int(memory)
    if limit > 0:
        kind = resource.RLIMIT_DATA if device == "cuda" else resource.RLIMIT_AS
        _soft, hard = resource.getrlimit(kind)
        cap = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(kind, (cap, cap))
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
