"""Executors run the cells of a plan. ``local`` (default) runs them in this process with progress bars;
``ray`` (``bench.running.ray_executor``) dispatches them as Ray tasks. Both write the same store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from itertools import groupby
from typing import Any, Protocol

from tqdm.auto import tqdm

from bench.registry import Registry
from bench.running.progress import RunProgress
from bench.running.runner import Cell, CellResult, RunSpec, all_keys, execute_cell

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs every cell (levels in order; cells within a level may run in parallel)."""

    def execute(self, spec: RunSpec, cells: list[Cell]) -> dict[str, CellResult]:
        """Return one result per cell key."""
        ...


def _ray() -> None:
    import bench.running.ray_executor  # noqa: F401 -- registers "ray" (ray itself is imported only when it runs)


EXECUTORS: Registry[Callable[..., Executor]] = Registry("executor", load=_ray, group="robex.executors")


@EXECUTORS.register("local")
class LocalExecutor:
    """On this machine: in-process, level by level, one progress bar per stage (``show_progress=False`` for
    tests); or, with ``workers > 1``, in a pool of worker processes (:mod:`bench.running.parallel`). ``progress``
    counts the finished cells per stage and reports the time left (:mod:`bench.running.progress`)."""

    def __init__(
        self, show_progress: bool = True, workers: int = 1, progress: RunProgress | None = None, **_: Any
    ) -> None:
        self.show_progress = show_progress
        self.workers = int(workers)
        self.progress = progress
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")

    def execute(self, spec: RunSpec, cells: list[Cell]) -> dict[str, CellResult]:
        """See :class:`Executor`."""
        if self.progress is not None:
            self.progress.begin(cells, self.workers)
        if self.workers > 1:
            from bench.running.parallel import run_in_pool

            return run_in_pool(spec, cells, self.workers, self.show_progress, self.progress)
        keys = all_keys(cells)
        results: dict[str, CellResult] = {}
        ordered = sorted(cells, key=lambda c: (c.level, c.stage))
        for (_level, stage), group in groupby(ordered, key=lambda c: (c.level, c.stage)):
            batch = list(group)
            bar = tqdm(
                total=len(batch),
                desc=f"{stage:>12}",
                unit="cell",
                disable=not self.show_progress,
                leave=True,
                dynamic_ncols=True,
            )
            for cell in batch:
                label = cell.source + "->" + cell.entry if cell.source else cell.entry
                bar.set_postfix_str(label, refresh=False)
                inner = _inner_progress(bar, label) if self.show_progress else None
                res = execute_cell(spec, cell, keys, inner)
                results[cell.key] = res
                if self.progress is not None:
                    self.progress.finished(cell, res)
                if not res.ok:
                    bar.write(f"  ! {res.label}: {res.error.splitlines()[-1] if res.error else 'failed'}")
                bar.update(1)
            bar.close()
        return results


def _inner_progress(bar: Any, label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        bar.set_postfix_str(f"{label} {done}/{total}", refresh=True)

    return report


def summarize_results(results: Mapping[str, CellResult]) -> tuple[int, int, int]:
    """(computed, cached, failed) counts."""
    computed = sum(1 for r in results.values() if r.ok and not r.cached)
    cached = sum(1 for r in results.values() if r.cached)
    failed = sum(1 for r in results.values() if not r.ok)
    return computed, cached, failed
