"""Published checkpoints: the trained weights of a track's baselines, kept beside the committed records.

A published checkpoint is ``<folder>/<track>/<entry>.safetensors`` (the model's state dict) plus
``<entry>.json`` (:class:`PublishedCheckpoint`): the file's sha256 and size, the *training recipe* it was
trained under, and what was trained (epochs, optimiser steps, samples seen, wall time, device, threads).

``robex run`` uses a published checkpoint instead of training an entry when its recipe equals the entry's
recipe on the installed track (:func:`training_recipe`: the track's training budget, architecture, data split
and seed, the defense and its resolved hyperparameters, and :data:`TRAINING_PROTOCOL`) and the file's sha256
equals the one published; otherwise it trains and logs why the checkpoint was not used. The recipe leaves out
the evaluation settings (a change to how an entry is *scored* does not retrain it) and the defense module's
source text (moving or re-documenting code does not either): a change to what a defense or the training engine
*trains* must bump :data:`TRAINING_PROTOCOL` or the defense's hyperparameters.

Checkpoints are read without unpickling (safetensors, header checked first) and with a size cap.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor

from bench.checkpoint import CheckpointError, check_safetensors_header, sha256_bytes
from bench.results.atomic import atomic_write_bytes
from bench.track import Track, canonical_json

log = logging.getLogger(__name__)

TRAINING_PROTOCOL = 1
"""Bumped whenever the training engine or a built-in defense changes the weights a recipe trains."""

FORMAT = "robex-published-checkpoint-v1"
MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
MAX_META_BYTES = 256 * 1024


class TrainFacts(BaseModel):
    """What was trained (measured by robex while training, not claimed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: float = Field(ge=0)
    steps: int = Field(ge=0)
    samples_seen: int = Field(ge=0)
    runs: list[dict[str, int | float | str]]


class PublishedCheckpoint(BaseModel):
    """The JSON beside a published checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = FORMAT
    track: str
    entry: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    recipe: dict[str, Any]
    recipe_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    trained: TrainFacts
    wall_time_s: float = Field(ge=0)
    device: str
    threads: int | None = None
    torch: str = ""


@dataclass(frozen=True)
class Lookup:
    """The outcome of looking for an entry's published checkpoint: the checkpoint when it can be used, else the
    reason it cannot ("" when none is published)."""

    checkpoint: PublishedCheckpoint | None
    reason: str = ""
    folder: Path | None = None

    @property
    def path(self) -> Path | None:
        """The safetensors file of a usable checkpoint."""
        if self.checkpoint is None or self.folder is None:
            return None
        return self.folder / self.checkpoint.track / self.checkpoint.file


def recipe_sha256(recipe: dict[str, Any]) -> str:
    """sha256 of the recipe's canonical JSON (sorted keys, no spaces).

    >>> recipe_sha256({"b": 1, "a": [1.0, "x"]}) == hashlib.sha256(b'{"a":[1.0,"x"],"b":1}').hexdigest()
    True
    """
    return hashlib.sha256(canonical_json(recipe).encode()).hexdigest()


def training_recipe(
    defense_name: str, hyperparameters: dict[str, Any], train_settings: dict[str, Any], track: Track
) -> dict[str, Any]:
    """Everything that fixes a recipe entry's trained weights on ``track`` (see the module docstring)."""
    return {
        "protocol": TRAINING_PROTOCOL,
        "track": track.name,
        "seed": track.seed,
        "train": train_settings,
        "defense": defense_name,
        "hyperparameters": hyperparameters,
    }


def train_facts(runs: list[dict[str, int | float | str]], batch_size: int) -> TrainFacts:
    """Epochs, optimiser steps and samples seen summed over the training runs of a fit (a defense may train
    fewer epochs than the budget, or train twice, as distillation does).

    >>> f = train_facts([{"epochs": 6, "steps": 100, "lr": 0.1, "augment": "none"},
    ...                  {"epochs": 6, "steps": 100, "lr": 0.1, "augment": "none"}], 128)
    >>> (f.epochs, f.steps, f.samples_seen)
    (12.0, 200, 25600)
    """
    epochs = float(sum(float(r["epochs"]) for r in runs))
    steps = int(sum(int(r["steps"]) for r in runs))
    return TrainFacts(epochs=epochs, steps=steps, samples_seen=steps * batch_size, runs=list(runs))


def _read_capped(path: Path, cap: int) -> bytes:
    """A regular file's bytes (links not followed, at most ``cap`` bytes), else :class:`CheckpointError`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot open ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        if info.st_size > cap:
            raise CheckpointError(f"{path}: {info.st_size} bytes, more than the {cap} allowed")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise CheckpointError(f"{path}: more than the {cap} bytes allowed")
    return data


def lookup(folder: Path | None, track: Track, entry: str, recipe: dict[str, Any]) -> Lookup:
    """The published checkpoint of ``entry`` on ``track`` in ``folder`` when its recipe is ``recipe``."""
    if folder is None:
        return Lookup(None)
    meta_path = Path(folder) / track.name / f"{entry}.json"
    if not meta_path.exists():
        return Lookup(None)
    try:
        meta = PublishedCheckpoint.model_validate_json(_read_capped(meta_path, MAX_META_BYTES))
    except (CheckpointError, ValidationError) as exc:
        return Lookup(None, f"{meta_path} is not a valid published checkpoint: {str(exc).splitlines()[0]}")
    if meta.track != track.name or meta.entry != entry or meta.file != f"{entry}.safetensors":
        return Lookup(None, f"{meta_path} names another track, entry or file")
    if meta.recipe_sha256 != recipe_sha256(recipe) or recipe_sha256(meta.recipe) != meta.recipe_sha256:
        changed = sorted(k for k in {*recipe, *meta.recipe} if recipe.get(k) != meta.recipe.get(k))
        return Lookup(None, f"it was trained under another recipe (differs in {', '.join(changed) or 'its hash'})")
    found = Lookup(meta, folder=Path(folder))
    try:
        read_published(found)
    except CheckpointError as exc:
        return Lookup(None, str(exc))
    return found


def read_published(found: Lookup) -> dict[str, Tensor]:
    """The tensors of a usable published checkpoint, its sha256 checked before the header is parsed."""
    from safetensors.torch import load as st_load

    path, meta = found.path, found.checkpoint
    if path is None or meta is None:
        raise CheckpointError("no usable published checkpoint")
    data = _read_capped(path, MAX_CHECKPOINT_BYTES)
    if sha256_bytes(data) != meta.sha256 or len(data) != meta.size:
        raise CheckpointError(f"{path}: its sha256 or size differs from the published {meta.sha256} ({meta.size} B)")
    check_safetensors_header(data, str(path))
    return st_load(data)


def publish(folder: Path, track: Track, meta_fields: dict[str, Any], data: bytes) -> PublishedCheckpoint:
    """Write ``data`` (a safetensors state dict) and its JSON under ``folder/<track>/``, atomically, weights
    first (a reader that finds the JSON finds the weights it names). ``meta_fields`` holds ``entry``, ``recipe``,
    ``trained``, ``wall_time_s``, ``device``, ``threads`` and ``torch``."""
    entry = str(meta_fields["entry"])
    meta = PublishedCheckpoint(
        track=track.name,
        file=f"{entry}.safetensors",
        sha256=sha256_bytes(data),
        size=len(data),
        recipe_sha256=recipe_sha256(meta_fields["recipe"]),
        **meta_fields,
    )
    out = Path(folder) / track.name
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / meta.file, data)
    text = json.dumps(meta.model_dump(mode="json"), indent=1, sort_keys=True) + "\n"
    atomic_write_bytes(out / f"{entry}.json", text.encode())
    log.info("published %s/%s (%d B, sha256 %s)", track.name, meta.file, meta.size, meta.sha256)
    return meta
