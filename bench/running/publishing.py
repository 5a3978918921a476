"""Publishing the baselines a run trained: each finished train cell of a baseline recipe entry becomes a published
checkpoint (:mod:`bench.published`) in the run's checkpoints folder, so a later run, on any machine, loads it
instead of training it again."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import save as st_save

from bench.published import PublishedCheckpoint, publish, train_facts, training_recipe
from bench.running.runner import Cell, CellResult, RunSpec
from bench.running.store import CellStore
from bench.stages.train import TrainStage
from bench.track import load_track

log = logging.getLogger(__name__)


def publish_trained(spec: RunSpec, cells: list[Cell], results: Mapping[str, CellResult]) -> list[PublishedCheckpoint]:
    """Publish every baseline recipe entry whose train cell finished in this run (computed or cached) and was
    trained, not itself loaded from a published checkpoint. Nothing for ``--quick`` runs."""
    if spec.checkpoints is None or spec.quick:
        return []
    track = load_track(spec.track)
    entries = spec.entry_objects()
    store = CellStore(spec.store)
    settings = TrainStage().settings(track, False)
    out: list[PublishedCheckpoint] = []
    for cell in cells:
        entry = entries[cell.entry]
        result = results.get(cell.key)
        if cell.stage != TrainStage.name or result is None or not result.ok or "published_sha256" in cell.settings:
            continue
        defense = entry.defense(track)
        if defense is None or not entry.manifest.baseline:
            continue
        output = store.get(cell.key)
        runs = [dict(r) for r in output.details["runs"]]
        meta = store.meta(cell.key)
        fields = {
            "entry": entry.name,
            "recipe": training_recipe(defense.name, defense.hp, dict(settings), track),
            "trained": train_facts(runs, track.training_budget(quick=False).batch_size),
            "wall_time_s": round(meta.wall_time_s, 1),
            "device": meta.device,
            "threads": spec.threads,
            "torch": torch.__version__.split("+")[0],
        }
        out.append(publish(Path(spec.checkpoints), track, fields, st_save(dict(output.tensors))))
    return out
