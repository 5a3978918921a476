"""Run a plan's cells in a pool of worker processes on this machine (``robex run --workers N``).

A cell is submitted as soon as every cell it depends on has finished (not level by level), longest stages
first within what is ready, so N workers stay busy while a long training cell runs beside short evaluation
cells. Each worker is a fresh (spawned) interpreter that pins its intra-op thread count to ``spec.threads`` — torch's
and the native BLAS/OpenMP pools' (scipy's LAPACK, e.g. ROAD's banded solves), whose variables are set before the
worker starts because those libraries read them once, at load time (two workers each spinning two BLAS threads on
two cores slowed a cell six-fold);
the cells it computes land in the same store as with the in-process executor. A cell whose dependency failed
is reported by :func:`bench.running.runner.execute_cell` as such. A worker that dies (killed, out of memory) breaks the
pool: the cells it was running and every cell not yet started are reported failed, never dropped, and the next
run computes them (finished cells are in the store).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from bench.running.progress import RunProgress
from bench.running.runner import Cell, CellResult, RunSpec, all_keys, execute_cell

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

# Submission priority among ready cells: long stages first (a shorter tail at the end of a level).
_PRIORITY = {"train": 0, "manipulate": 1, "autoattack": 2, "ara": 3, "explain": 4}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the process that started it dies (``prctl(PR_SET_PDEATHSIG)``),
    so a killed run leaves no worker computing on; elsewhere a no-op."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


# Thread-pool sizes the native libraries read when they load (OpenBLAS, OpenMP, MKL, Apple Accelerate, numexpr).
_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@contextlib.contextmanager
def worker_thread_environment(threads: int | None) -> Iterator[None]:
    """While workers are spawned, set every unset native thread-pool variable to ``threads`` (the user's own
    settings win); the parent's environment is restored afterwards."""
    if not threads:
        yield
        return
    added = [name for name in _THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(threads)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _init_worker(threads: int | None) -> None:
    _die_with_parent()
    import torch

    if threads:
        torch.set_num_threads(threads)


def _run(spec: RunSpec, cell: Cell, keys: Mapping[tuple[str, str], str]) -> CellResult:
    return execute_cell(spec, cell, keys)


def run_in_pool(
    spec: RunSpec, cells: list[Cell], workers: int, show_progress: bool = True, progress: RunProgress | None = None
) -> dict[str, CellResult]:
    """Execute ``cells`` with ``workers`` processes; one result per cell key (see the module docstring).
    ``progress`` (already told the plan) is told of every finished cell; the bar then shows its stage's count and
    the run's time left."""
    keys = all_keys(cells)
    pending = sorted(cells, key=lambda c: (c.level, _PRIORITY.get(c.stage, 9), c.stage, c.entry, c.source or ""))
    results: dict[str, CellResult] = {}
    bar = tqdm(total=len(cells), desc=f"{workers} workers", unit="cell", disable=not show_progress, dynamic_ncols=True)
    ctx = mp.get_context("spawn")
    with (
        worker_thread_environment(spec.threads),
        ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(spec.threads,)) as pool,
    ):
        running: dict[Future[CellResult], Cell] = {}
        while pending or running:
            ready = [c for c in pending if all(d in results for d in c.deps)]
            for cell in ready[: max(0, 2 * workers - len(running))]:
                pending.remove(cell)
                try:
                    running[pool.submit(_run, spec, cell, keys)] = cell
                except BrokenProcessPool as exc:
                    results[cell.key] = CellResult(cell.key, cell.label, ok=False, cached=False, error=str(exc))
                    bar.update(1)
            if (
                not running and pending and not ready
            ):  # every remaining cell waits on one that never ran: a planning error
                raise RuntimeError(f"cells with unmet dependencies: {[c.label for c in pending][:5]}")
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                cell = running.pop(fut)
                try:
                    res = fut.result()
                except Exception as exc:  # the worker died: this cell fails, the run goes on
                    log.warning("cell %s: worker failed: %s", cell.label, exc)
                    res = CellResult(cell.key, cell.label, ok=False, cached=False, error=f"worker failed: {exc}")
                results[cell.key] = res
                if not res.ok:
                    bar.write(f"  ! {res.label}: {res.error.splitlines()[-1] if res.error else 'failed'}")
                if progress is not None:
                    progress.finished(cell, res)
                bar.set_postfix_str(progress.postfix(cell.stage) if progress else cell.label, refresh=False)
                bar.update(1)
    bar.close()
    return results
