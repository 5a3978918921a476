"""The Ray executor: ``robex run --executor ray [--address ADDR]``.

Each cell is a Ray task; cells of one dependency level are submitted together and run in parallel across
the cluster, and a cell whose stage ``needs_gpu`` asks for one GPU when the cluster has any. Tasks write the
same cell store as the local executor (so ``--store`` must be a folder every node sees, e.g. NFS), so records
are identical and a re-run — local or on Ray — recomputes nothing. A task whose worker dies is retried
(``max_retries``); a task that still fails is reported with its entry and stage, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

from bench.plugins import STAGES
from bench.running.executors import EXECUTORS
from bench.running.progress import RunProgress
from bench.running.runner import Cell, CellResult, RunSpec, all_keys, execute_cell

log = logging.getLogger(__name__)


def _run_cell(spec: RunSpec, cell: Cell, keys: Mapping[tuple[str, str], str], use_gpu: bool) -> CellResult:
    """Body of one Ray task (module-level so Ray can pickle it by reference)."""
    import torch

    if spec.threads:
        torch.set_num_threads(spec.threads)  # same float summation order as the driver: identical weights
    if use_gpu and torch.cuda.is_available():
        spec = dataclasses.replace(spec, device="cuda")
    elif spec.device.startswith("cuda") and not torch.cuda.is_available():
        spec = dataclasses.replace(spec, device="cpu")
    return execute_cell(spec, cell, keys)


@EXECUTORS.register("ray")
class RayExecutor:
    """Dispatch cells as Ray tasks (see module docstring).

    Args:
        address: Cluster address (``auto``, ``ray://host:10001``); ``None`` starts a local Ray instance.
        num_cpus: CPUs of a local instance (ignored when connecting to a cluster).
        max_retries: Retries of a task whose worker process died.
        show_progress: One progress bar per level.
        progress: Counts finished cells per stage and reports the time left (:mod:`bench.running.progress`).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        max_retries: int = 2,
        show_progress: bool = True,
        progress: RunProgress | None = None,
        **_: Any,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.show_progress = show_progress
        self.progress = progress

    def _init(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray executor needs Ray: pip install 'robex[ray]'") from exc
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.num_cpus, **kwargs)
        return ray

    def execute(self, spec: RunSpec, cells: list[Cell]) -> dict[str, CellResult]:
        """See :class:`bench.running.executors.Executor`."""
        ray = self._init()
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        task = ray.remote(_run_cell)
        keys = all_keys(cells)
        results: dict[str, CellResult] = {}
        if self.progress is not None:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            self.progress.begin(cells, max(1, int(cpus // (spec.threads or 1))))
        for level in sorted({c.level for c in cells}):
            batch = [c for c in cells if c.level == level]
            refs = {}
            for cell in batch:
                use_gpu = gpus > 0 and STAGES.get(cell.stage).needs_gpu
                opts = {"num_cpus": spec.threads or 1, "num_gpus": 1 if use_gpu else 0, "max_retries": self.max_retries}
                refs[task.options(**opts).remote(spec, cell, keys, use_gpu)] = cell
            bar = tqdm(total=len(batch), desc=f"level {level}", unit="cell", disable=not self.show_progress)
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    cell = refs[ref]
                    try:
                        res = ray.get(ref)
                    except Exception as exc:  # worker death after retries, or a Ray system error
                        res = CellResult(
                            cell.key,
                            cell.label,
                            ok=False,
                            cached=False,
                            error=f"{cell.label}: Ray task failed after {self.max_retries} retries: "
                            f"{type(exc).__name__}: {exc}",
                        )
                    if not res.ok:
                        bar.write(f"  ! {res.label}: {res.error.splitlines()[-1] if res.error else 'failed'}")
                    results[cell.key] = res
                    if self.progress is not None:
                        self.progress.finished(cell, res)
                    bar.update(1)
            bar.close()
        return results
