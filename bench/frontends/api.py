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
from bench.results.places import published_checkpoints_root, user_results_root
from bench.results.records import Record, read_record, write_record
from bench.running.assemble import assemble
from bench.running.executors import EXECUTORS, summarize_results
from bench.running.publishing import publish_trained
from bench.running.runner import DEFAULT_THREADS, CellResult, RunSpec, load_entry_model, plan_cells, track_data
from bench.running.store import CellStore, default_store
from bench.track import load_track

log = logging.getLogger(__name__)

__all__ = ["PUBLISHERS", "RunReport", "load_baseline", "load_model", "publish", "resolve_device", "run_track"]


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
    checkpoints: str | Path | None = None,
    retrain: bool = False,
    publish_checkpoints: bool = False,
    threads: int = DEFAULT_THREADS,
    base_store: str | Path | None = None,
) -> RunReport:
    """Train and evaluate the entries of ``track`` and write one record per entry.

    Cells already in the store are not recomputed; a failing cell is recorded on its entry's record. Records go
    to ``results_root``, by default the user's results folder (:func:`~bench.results.places.user_results_root`),
    so a run never rewrites the committed records of a clone unless asked to. ``base_store``: a store whose cells
    are read and never written (new cells go to ``store``).

    A baseline whose published checkpoint (``checkpoints``, default the clone's ``leaderboard/checkpoints``;
    :mod:`bench.published`) was trained under the entry's recipe is loaded instead of trained, unless ``retrain``;
    ``publish_checkpoints`` writes every baseline this run trained into that folder.

    ``threads`` (intra-op CPU threads per cell, default 1) is part of the run's protocol: it enters every cell key
    and the record, and every executor and worker count pins it, so records are identical whichever runs them.
    """
    start = time.perf_counter()
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
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
        threads=int(threads),
        checkpoints=str(checkpoints if checkpoints is not None else published_checkpoints_root()),
        retrain=retrain,
        publish=publish_checkpoints,
        base_store=str(base_store) if base_store else None,
    )
    cells = plan_cells(spec)
    results = EXECUTORS.create(executor, **(executor_options or {})).execute(spec, cells)
    if publish_checkpoints:
        publish_trained(spec, cells, results)
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


def load_baseline(track: str, name: str, *, checkpoints: str | Path | None = None, device: str = "cpu") -> nn.Module:
    """A baseline of ``track`` from its published checkpoint, as ``robustbench.utils.load_model`` loads a
    leaderboard model: eval mode, inputs in [0, 1], logits out, the defense's inference wrapper applied.

    The checkpoint must have been trained under the entry's recipe on the installed track (else
    ``FileNotFoundError`` says why: ``robex run --track TRACK --entries NAME`` trains it); its sha256 is checked
    before its bytes are parsed. ``checkpoints`` defaults to the clone's ``leaderboard/checkpoints``.
    """
    from bench.stages.train import TrainStage, published_lookup

    t = load_track(track)
    entry = next((e for e in load_entries(t) if e.name == name), None)
    if entry is None or entry.manifest.defense is None:
        raise FileNotFoundError(f"track {t.name!r} has no baseline recipe entry {name!r}")
    folder = str(checkpoints if checkpoints is not None else published_checkpoints_root())
    spec = RunSpec(track=t.name, entries=(entry.to_payload(),), store="", checkpoints=folder)
    found = published_lookup(spec, t, entry, TrainStage().settings(t, False))
    if found.checkpoint is None:
        why = found.reason or f"none is published in {folder}/{t.name}"
        raise FileNotFoundError(f"no usable published checkpoint of {name!r} on {t.name!r}: {why}")
    from bench.published import read_published

    return load_entry_model(spec, entry, read_published(found), torch.device(device))
