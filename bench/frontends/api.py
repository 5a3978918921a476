"""The programmatic front door: run a track, load a model from a record or checkpoint, publish the site
(:func:`bench.frontends.publish.publish`, re-exported here)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.entries import Entry, load_entries
from bench.frontends.publish import PUBLISHERS, publish
from bench.results.places import user_results_root
from bench.results.records import Record, read_record, write_record
from bench.running.assemble import assemble
from bench.running.executors import EXECUTORS, summarize_results
from bench.running.runner import CellResult, RunSpec, load_entry_model, plan_cells, track_data
from bench.running.store import CellStore, default_store
from bench.track import load_track

log = logging.getLogger(__name__)

__all__ = ["PUBLISHERS", "RunReport", "load_model", "publish", "resolve_device", "run_track"]


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but CUDA is not available")
    return device


@dataclass(frozen=True)
class RunReport:
    """What :func:`run_track` did."""

    records: list[Record]
    paths: list[Path]
    results: dict[str, CellResult]
    wall_time_s: float

    @property
    def counts(self) -> tuple[int, int, int]:
        """(computed, cached, failed) cells."""
        return summarize_results(self.results)


def run_track(
    track: str,
    *,
    entries: list[str] | None = None,
    extra_entries: list[Path] | None = None,
    store: str | Path | None = None,
    results_root: str | Path | None = None,
    quick: bool = False,
    device: str = "auto",
    data_root: str | None = None,
    stages: list[str] | None = None,
    executor: str = "local",
    executor_options: dict[str, Any] | None = None,
    base_store: str | Path | None = None,
) -> RunReport:
    """Train and evaluate the entries of ``track`` and write one record per entry.

    Cells already in the store are not recomputed; a failing cell is recorded on its entry's record. Records go
    to ``results_root``, by default the user's results folder (:func:`~bench.results.places.user_results_root`),
    so a run never rewrites the committed records of a clone unless asked to. ``base_store``: a store whose cells
    are read and never written (new cells go to ``store``).
    """
    start = time.perf_counter()
    t = load_track(track)
    track_data(t.name, data_root)  # fail fast, before any work, with where it looked for the data
    chosen: list[Entry] = load_entries(t, entries, extra_entries)
    if not chosen:
        raise ValueError(f"track {track!r} has no entries to run")
    spec = RunSpec(
        track=t.name,
        entries=tuple(e.to_payload() for e in chosen),
        store=str(Path(store) if store else default_store()),
        quick=quick,
        device=resolve_device(device),
        data_root=data_root,
        stages=tuple(stages) if stages else None,
        threads=max(1, torch.get_num_threads() // int((executor_options or {}).get("workers", 1))),
        base_store=str(base_store) if base_store else None,
    )
    cells = plan_cells(spec)
    results = EXECUTORS.create(executor, **(executor_options or {})).execute(spec, cells)
    records = assemble(spec, cells, results)
    root = Path(results_root) if results_root else user_results_root()
    paths = [write_record(r, root) for r in records]
    return RunReport(records, paths, results, time.perf_counter() - start)


def load_model(path: str | Path, *, store: str | Path | None = None, device: str = "cpu") -> nn.Module:
    """A model from a record (weights from the store's train cell) or an entry folder/manifest with a
    checkpoint. Returns the model in eval mode, [0, 1] in, logits out."""
    from bench.manifest import load_manifest

    p = Path(path)
    if p.suffix == ".json":
        record = read_record(p)
        key = record.provenance.cell_keys.get("train")
        cells = CellStore(store or default_store())
        if key is None or not cells.has(key):
            raise FileNotFoundError(
                f"{p}: its train cell {key} is not in the store {cells.root}; run `robex run` first"
            )
        t = load_track(record.track)
        entry = next((e for e in load_entries(t) if e.name == record.entry.name), None)
        if entry is None:
            raise FileNotFoundError(f"{p}: no manifest for entry {record.entry.name!r} on track {t.name!r}")
        spec = RunSpec(track=t.name, entries=(entry.to_payload(),), store=str(cells.root))
        return load_entry_model(spec, entry, cells.get(key).tensors, torch.device(device))
    manifest = load_manifest(p)
    entry = Entry(manifest, str(p if p.is_dir() else p.parent))
    model, _ = entry.build_checkpoint_model(load_track(manifest.track))
    return model.to(device).eval()
