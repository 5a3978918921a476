"""The ``train`` stage: trains a recipe entry under the track's budget, or verifies a checkpoint entry."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from bench.checkpoint import sha256_bytes, state_dict_bytes
from bench.plugins import STAGES
from bench.protocols import Stage, StageOutput
from bench.running.training import FitContext, seeded
from bench.stage_settings import StageSettings, settings_dataclass
from bench.track import Track

log = logging.getLogger(__name__)


@settings_dataclass(frozen=True)
class TrainSettings(StageSettings):
    """The budget, architecture, data and split: everything besides the recipe that fixes the weights. All of
    it comes from the track (``[training]`` and its header); a ``[stages.train]`` table cannot change it."""

    budget: dict[str, Any] | None = None
    architecture: str | None = None
    dataset: str | None = None
    split: dict[str, Any] | None = None
    input_shape: list[int] | None = None

    def resolve(self, track: Track, quick: bool) -> TrainSettings:
        """Everything from the track."""
        given = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]
        if given:
            raise ValueError(f"[stages.train] cannot set {given}: the training budget is the track's [training] table")
        return TrainSettings(
            budget=dict(track.training_budget(quick=quick).__dict__),
            architecture=track.architecture,
            dataset=track.dataset,
            split=dict(track.split),
            input_shape=list(track.input_shape),
        )


@STAGES.register("train")
class TrainStage(Stage):
    """Weights of the entry's model, stored in the cell as tensors; their sha256 goes to the record."""

    summary = "trains the entry's model (or loads its checkpoint); weights kept in the store"

    requires = ()
    order = 0

    Settings = TrainSettings

    def run(self, ctx: Any) -> StageOutput:
        """Train (recipe) or load-and-verify (checkpoint)."""
        entry = ctx.entry_object()
        track = ctx.track
        defense = entry.defense(track)
        if defense is None:
            model, sha = entry.build_checkpoint_model(track)
            details: dict[str, Any] = {"architecture": entry.architecture(track), "sha256": sha, "trained": False}
        else:
            with seeded(track.seed):
                model = defense.build_model()
            fit = FitContext(
                track=track,
                train_x=ctx.data.train_x,
                train_y=ctx.data.train_y,
                budget=track.training_budget(quick=ctx.quick),
                seed=track.seed,
                device=ctx.device,
                on_step=ctx.progress,
            )
            model = defense.fit(model, fit)
            model.cpu()
            sha = sha256_bytes(state_dict_bytes(model))
            details = {
                "architecture": track.architecture,
                "sha256": sha,
                "trained": True,
                "steps": fit.total_steps(),
                "epochs": fit.budget.epochs,
                "runs": list(fit.runs),
            }
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
        return StageOutput(details=details, tensors=tensors)
