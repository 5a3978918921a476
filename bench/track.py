"""Tracks: fixed, versioned evaluation protocols stored as data (``bench/tracks/<name>.toml``).

A change of any field that alters numbers must bump ``version``; the version is part of every cell key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from bench.registry import Registry
from bench.types import ThreatModel


@dataclass(frozen=True)
class TrainingBudget:
    """How robex trains a recipe entry on a track (the reference budget every recipe gets)."""

    epochs: float
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    max_train: int | None = None  # use only the first N (seeded-permuted) training images
    amp: bool = False  # bfloat16 autocast for training on CUDA or CPU (evaluation always runs in float32)
    augment: str = "none"  # bench.running.augment: e.g. "translate:2" (every defense's batches, same draws)


@dataclass(frozen=True)
class SubsetSpec:
    """The evaluation subset: ``count`` images chosen with ``seed``; ``sha256`` of the index list pins it."""

    count: int
    seed: int
    sha256: str


@dataclass(frozen=True)
class Track:
    """A fixed protocol (see DESIGN.md "Core types")."""

    name: str
    version: str
    title: str
    description: str
    dataset: str
    split: Mapping[str, Any]
    eval_subset: SubsetSpec
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: tuple[str, ...]
    threat: ThreatModel
    architecture: str
    training: TrainingBudget
    seed: int
    stages: Mapping[str, Mapping[str, Any]]
    quick: Mapping[str, Any] = field(default_factory=dict)
    explainers: tuple[str, ...] = ()
    source: str = ""

    @property
    def id(self) -> str:
        """``name@version``, as printed in records."""
        return f"{self.name}@{self.version}"

    def stage_settings(self, stage: str, *, quick: bool = False) -> dict[str, Any]:
        """Settings of ``stage``; in quick mode ``[quick.stages.<stage>]`` overrides them key by key."""
        settings = copy.deepcopy(dict(self.stages.get(stage, {})))
        if quick:
            settings.update(copy.deepcopy(dict(self.quick.get("stages", {}).get(stage, {}))))
        return settings

    def training_budget(self, *, quick: bool = False) -> TrainingBudget:
        """The training budget, shrunk by ``[quick.training]`` in quick mode."""
        if not quick:
            return self.training
        overrides = dict(self.quick.get("training", {}))
        return TrainingBudget(**{**self.training.__dict__, **overrides})

    def fingerprint(self) -> str:
        """sha256 of the track's whole definition (its TOML text), part of provenance."""
        return hashlib.sha256(self.source.encode()).hexdigest()


class TrackError(ValueError):
    """A track file is malformed; the message names the field."""


def _require(raw: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise TrackError(f"{where}: missing field '{key}'")
    value = raw[key]
    if not isinstance(value, kind):
        raise TrackError(f"{where}: field '{key}' must be {kind}, got {type(value).__name__}")
    return value


def parse_track(text: str, where: str = "track") -> Track:
    """Parse a track TOML document (see ``bench/tracks/mnist5k.toml`` for every field)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TrackError(f"{where}: not valid TOML: {exc}") from exc
    training = _require(raw, "training", dict, where)
    subset = _require(raw, "eval_subset", dict, where)
    try:
        budget = TrainingBudget(**training)
    except TypeError as exc:
        raise TrackError(f"{where}: [training]: {exc}") from exc
    shape = tuple(_require(raw, "input_shape", list, where))
    if len(shape) != 3:
        raise TrackError(f"{where}: field 'input_shape' must be [C, H, W]")
    try:
        threat = ThreatModel.parse(_require(raw, "threat_model", str, where))
    except ValueError as exc:
        raise TrackError(f"{where}: field 'threat_model': {exc}") from exc
    return Track(
        name=_require(raw, "name", str, where),
        version=_require(raw, "version", str, where),
        title=_require(raw, "title", str, where),
        description=raw.get("description", ""),
        dataset=_require(raw, "dataset", str, where),
        split=_require(raw, "split", dict, where),
        eval_subset=SubsetSpec(
            count=_require(subset, "count", int, f"{where} [eval_subset]"),
            seed=_require(subset, "seed", int, f"{where} [eval_subset]"),
            sha256=_require(subset, "sha256", str, f"{where} [eval_subset]"),
        ),
        input_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        num_classes=_require(raw, "num_classes", int, where),
        class_names=tuple(_require(raw, "class_names", list, where)),
        threat=threat,
        architecture=_require(raw, "architecture", str, where),
        training=budget,
        seed=_require(raw, "seed", int, where),
        stages=raw.get("stages", {}),
        quick=raw.get("quick", {}),
        explainers=tuple(raw.get("explainers", ())),
        source=text,
    )


TRACKS: Registry[Track] = Registry("track")
DEFAULT_TRACK = "mnist5k"  # embedded (no download), what `robex run` builds without --track


def _load_builtin_tracks() -> None:
    folder = resources.files("bench") / "tracks"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            track = parse_track(item.read_text(encoding="utf-8"), where=f"bench/tracks/{item.name}")
            TRACKS.add(track.name, track)


_load_builtin_tracks()


def load_track(name: str) -> Track:
    """The built-in track called ``name`` (unknown names raise with close matches)."""
    return TRACKS.get(name)


def canonical_json(obj: Any) -> str:
    """Deterministic JSON used for hashing (sorted keys, no whitespace)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
