"""A stage's cell context around an in-memory model: run one stage's ``run`` in a test without the runner."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import torch
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import STAGES
from bench.track import Track


class StageContext:
    """The part of :class:`bench.running.runner.CellContext` a stage uses: resolved settings, a fresh copy of the
    model per call, the evaluation images, seeded generators (same derivation: track seed, stage, keys)."""

    def __init__(
        self, stage: str, track: Track, data: TrackData, model: nn.Module, quick: bool = True, **overrides: Any
    ) -> None:
        self.stage = STAGES.create(stage)
        self.track, self.data, self._model = track, data, model
        self.settings: dict[str, Any] = {**self.stage.settings(track, quick), **overrides}
        self.quick, self.device, self.entry, self.source = quick, torch.device("cpu"), "standard", None
        self.progressed: list[tuple[int, int]] = []

    def model(self, entry: str | None = None) -> nn.Module:
        return copy.deepcopy(self._model).eval()

    def eval_batch(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        return self.data.eval_batch(n if n is not None else self.settings.get("n"))

    def generator(self, *keys: object) -> torch.Generator:
        digest = hashlib.sha256(json.dumps([self.track.seed, self.stage.name, *map(str, keys)]).encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))

    def progress(self, done: int, total: int) -> None:
        self.progressed.append((done, total))
