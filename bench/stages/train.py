"""The ``train`` stage: trains a recipe entry under the track's budget, or verifies a checkpoint entry."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from bench.checkpoint import load_weights, sha256_bytes, state_dict_bytes
from bench.plugins import STAGES
from bench.protocols import Defense, Stage, StageOutput
from bench.published import Lookup, lookup, read_published, train_facts, training_recipe
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


def published_lookup(spec: Any, track: Track, entry: Any, settings: Mapping[str, Any]) -> Lookup:
    """The entry's published checkpoint when this run may use it: a recipe entry, not ``--quick``, not
    ``--retrain``, and a checkpoint whose recipe equals the entry's (:mod:`bench.published`)."""
    if spec.quick or spec.retrain or spec.checkpoints is None or entry.manifest.defense is None:
        return Lookup(None)
    defense = entry.defense(track)
    recipe = training_recipe(defense.name, defense.hp, dict(settings), track)
    found = lookup(Path(spec.checkpoints), track, entry.name, recipe)
    if found.reason:
        log.warning("published checkpoint of %s on %s not used (%s): training it", entry.name, track.name, found.reason)
    return found


@STAGES.register("train")
class TrainStage(Stage):
    """Weights of the entry's model, stored in the cell as tensors; their sha256 goes to the record."""

    summary = "trains the entry's model (or loads its published checkpoint, or a submitted one)"

    requires = ()
    order = 0

    Settings = TrainSettings

    def planned(self, spec: Any, track: Track, entry: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The sha256 of the published checkpoint the cell loads instead of training (see :func:`published_lookup`)."""
        found = published_lookup(spec, track, entry, settings)
        return {} if found.checkpoint is None else {"published_sha256": found.checkpoint.sha256}

    def run(self, ctx: Any) -> StageOutput:
        """Load the published checkpoint the plan chose, else train (recipe) or load-and-verify (checkpoint)."""
        entry = ctx.entry_object()
        track = ctx.track
        defense = entry.defense(track)
        if defense is None:
            model, sha = entry.build_checkpoint_model(track)
            details: dict[str, Any] = {"architecture": entry.architecture(track), "sha256": sha, "trained": False}
        elif "published_sha256" in ctx.settings:  # planned by TrainStage.planned
            model, details = self._from_published(ctx, defense)
        else:
            model, details = self._train(ctx, defense)
        return StageOutput(details=details, tensors=_tensors(model))

    @staticmethod
    def _from_published(ctx: Any, defense: Defense) -> tuple[nn.Module, dict[str, Any]]:
        track, entry = ctx.track, ctx.entry_object()
        found = published_lookup(ctx.spec, track, entry, TrainStage().settings(track, ctx.quick))
        meta = found.checkpoint
        if meta is None or meta.sha256 != ctx.settings["published_sha256"]:
            raise RuntimeError(f"the published checkpoint of {entry.name!r} changed since the run was planned")
        with seeded(track.seed):
            model = defense.build_model()
        load_weights(model, read_published(found), f"published checkpoint {meta.track}/{meta.file}")
        details = {
            "architecture": track.architecture,
            "sha256": sha256_bytes(state_dict_bytes(model)),
            "trained": True,
            **meta.trained.model_dump(mode="json"),
            "budget_epochs": track.training_budget(quick=False).epochs,
            "published": {"file": f"{meta.track}/{meta.file}", "sha256": meta.sha256, "size": meta.size},
            "training_wall_time_s": meta.wall_time_s,
            "training_device": meta.device,
            "training_threads": meta.threads,
        }
        return model, details

    @staticmethod
    def _train(ctx: Any, defense: Defense) -> tuple[nn.Module, dict[str, Any]]:
        track = ctx.track
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
        data = state_dict_bytes(model)
        facts = train_facts(list(fit.runs), fit.budget.batch_size)
        details = {
            "architecture": track.architecture,
            "sha256": sha256_bytes(data),
            "trained": True,
            **facts.model_dump(mode="json"),
            "budget_epochs": fit.budget.epochs,
        }
        return model, details


def _tensors(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
