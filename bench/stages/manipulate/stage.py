"""The ``manipulate`` stage: its scores and the cell that fine-tunes, evaluates and records every run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from bench.explainers.images import input_row
from bench.plugins import EXPLAINERS, STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.scores.accuracy import accuracy_difference_score, rate_score
from bench.scores.manipulation import FSR_INTERVALS, FoolingLoss
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.explain.measures import score
from bench.stages.manipulate.curve import FoolingCurve, checked_checkpoints, default_checkpoints
from bench.stages.manipulate.evaluation import Manipulation, per_image_correct
from bench.stages.manipulate.fine_tuning import fine_tune, parse_runs
from bench.stages.manipulate.objectives import (
    HEADLINE,
    INTERPRETERS,
    PASSIVE,
    Active,
    FoolingData,
    Heldout,
    Interpreter,
    Objective,
    composites,
)
from bench.track import Track
from bench.types import ScoreSpec, ScoreValue

MANIPULATION_FSR = register_score(builtin_spec("manipulation_fsr"))


MANIPULATION_FSR_AUC = register_score(builtin_spec("manipulation_fsr_auc"))


MANIPULATION_COST = register_score(builtin_spec("manipulation_accuracy_cost"))


RUN_SCORES: dict[tuple[str, FoolingLoss], ScoreSpec] = {
    (interp, loss): register_score(builtin_spec(f"manipulation_fsr_{interp}_{loss.value}"))
    for interp in ("gradcam", "saliency")
    for loss in FoolingLoss
}


@settings_dataclass(frozen=True)
class ManipulateSettings(StageSettings):
    """``[stages.manipulate]``: ``runs`` as ``"<interpreter>:<loss>"``, ``lambda`` (λ) per loss; ``explainers``
    (the transfer check) default to the track's."""

    ALIASES: ClassVar[Mapping[str, str]] = {"lambda": "lambdas"}

    n: int | None = None
    explainers: list[str] | None = None
    runs: list[str] = dataclasses.field(default_factory=list)
    lambdas: dict[str, float] = dataclasses.field(default_factory=dict)
    steps: int = 100
    batch_size: int = 32
    lr: float = 5e-4
    active_classes: list[int] = dataclasses.field(default_factory=lambda: [0, 1])
    active_n: int = 100
    active_pool: int = 512
    transfer_n: int = 64
    fidelity_n: int = 100
    options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    transfer_drop: float = 0.1
    gallery: int = 6
    fsr_checkpoints: list[int] | None = None

    def resolve(self, track: Track, quick: bool) -> ManipulateSettings:
        """The track's explainers and the default checkpoints of the headline run's fooling curve unless given."""
        return dataclasses.replace(
            self,
            explainers=list(self.explainers) if self.explainers is not None else list(track.explainers),
            fsr_checkpoints=checked_checkpoints(
                self.fsr_checkpoints if self.fsr_checkpoints is not None else default_checkpoints(self.steps),
                self.steps,
            ),
        )


@STAGES.register("manipulate")
class ManipulateStage(Stage):
    """Heo et al.'s adversarial model manipulation against the entry (see the module docstring)."""

    summary = "Heo et al.'s adversarial model manipulation: how easily the explanations are fooled"

    order = 70
    version = "5"  # 5: the headline is the fooling curve's run average; the accuracy cost is against the better of
    # the original and the λ = 0 control, with a paired interval (per-image correctness kept); the fooling rates get
    # Wilson intervals; 3: gallery rows of maps carry their colour scale; 2: accuracy cost against the control;
    # per-image deletion AUC of original, control, fooled

    Settings = ManipulateSettings

    def run(self, ctx: Any) -> StageOutput:
        """Fine-tune copies of the entry's model to fool its explanations; measure FSR, cost and transfer."""
        s = ctx.settings
        runs = parse_runs(list(s["runs"]), s["lambdas"])
        if not runs:
            raise ValueError("[stages.manipulate] runs is empty")
        steps, batch_size, lr = int(s["steps"]), int(s["batch_size"]), float(s["lr"])
        original = ctx.model().eval()
        for p in original.parameters():
            p.requires_grad_(False)
        x, y = ctx.eval_batch()
        train_x, train_y = ctx.data.train_x, ctx.data.train_y
        c1, c2 = (int(c) for c in s["active_classes"])
        ex_x, ex_y = ctx.data.eval_x, ctx.data.eval_y
        left, right = ex_x[ex_y == c1], ex_x[ex_y == c2]
        pairs = min(len(left), len(right), int(s["active_n"]))
        comp = composites(left[:pairs], right[:pairs]).to(ctx.device) if pairs else None
        objectives: dict[FoolingLoss, Objective] = {**PASSIVE, FoolingLoss.ACTIVE: Active(FoolingLoss.ACTIVE, (c1, c2))}
        a, b = train_x[train_y == c1], train_x[train_y == c2]
        npool = min(int(s["active_pool"]), len(a), len(b))
        gen = ctx.generator("pool")
        pool = (
            composites(
                a[torch.randperm(len(a), generator=gen)[:npool]], b[torch.randperm(len(b), generator=gen)[:npool]]
            )
            if npool
            else None
        )
        pool = pool.to(ctx.device) if pool is not None else None
        data = FoolingData(original, train_x.to(ctx.device), train_y.to(ctx.device), pool, (c1, c2))

        def tune(
            objective: Objective | None, interp: Interpreter | None, lam: float, key: str, curve: FoolingCurve | None
        ) -> nn.Module:
            return fine_tune(
                original, objective, interp, lam, data, steps=steps, batch_size=batch_size, lr=lr,
                generator=ctx.generator(key), checkpoints=curve.checkpoints if curve else (), observe=curve,
            )  # fmt: skip

        nt, nf = int(s["transfer_n"]), int(s["fidelity_n"])
        m = Manipulation(
            original=original,
            control=tune(None, None, 0.0, "control", None),
            heldout=Heldout(x, y, comp),
            explainers={n: EXPLAINERS.create(n, **dict(s["options"].get(n, {}))) for n in s["explainers"]},
            transfer_x=x[:nt],
            transfer_y=y[:nt],
            fidelity_x=x[:nf],
            seed=int(torch.randint(0, 2**62, (1,), generator=ctx.generator("transfer"))),
            transfer_drop=float(s["transfer_drop"]),
            class_names=ctx.track.class_names,
            gallery_n=int(s["gallery"]),
        )
        # per image, for the cost's paired interval against the better of the original and the control
        correct = {"control": per_image_correct(m.control, x, y), "original": per_image_correct(original, x, y)}
        ctx.progress(1, len(runs) + 1)
        labels = [f"#{i} {ctx.track.class_names[int(c)]}" for i, c in enumerate(y[: m.gallery_n])]
        gallery = [input_row("Held-out evaluation images (true label explained)", x[: m.gallery_n], labels)]
        table: list[dict[str, Any]] = []
        scores: list[ScoreValue | None] = []
        fooling_curve: dict[str, Any] | None = None
        skipped: dict[str, str] = {}
        for k, run in enumerate(runs, start=2):
            interp, objective = INTERPRETERS.get(run.interpreter), objectives[run.loss]
            try:
                m.heldout_maps("original", interp, objective)
            except TypeError as exc:  # e.g. Grad-CAM on a model without cam_layer
                skipped[run.label] = str(exc)
                continue
            checkpoints = list(s["fsr_checkpoints"])
            curve = m.curve(interp, objective, FSR_INTERVALS[run.loss], checkpoints) if run.label == HEADLINE else None
            fooled = tune(objective, interp, run.lam, f"run:{run.label}", curve)
            row = m.evaluate(run, interp, objective, fooled)
            table.append(row)
            scores.append(rate_score(RUN_SCORES[(run.interpreter, run.loss)].name, row["fsr"], row["images"]))
            if curve is not None:  # intervals: bootstrap for the curve, Wilson for the rate, paired for the cost
                scores.append(score(MANIPULATION_FSR_AUC.name, curve.per_image()))
                scores.append(rate_score(MANIPULATION_FSR.name, row["fsr"], row["images"]))
                correct["fooled"] = per_image_correct(fooled, x, y)
                reference = max((correct["control"], correct["original"]), key=lambda c: float(c.float().mean()))
                scores.append(accuracy_difference_score(MANIPULATION_COST.name, reference, correct["fooled"]))
                fooling_curve = curve.details(run.label)
            gallery.extend(m.gallery(run, interp, fooled, c1, c2))
            ctx.progress(k, len(runs) + 1)
        details: dict[str, Any] = {
            "steps": steps,
            "batch_size": batch_size,
            "lr": lr,
            "images": len(y),
            "transfer_images": len(m.transfer_y),
            "fidelity_images": len(m.fidelity_x),
            "active_classes": [c1, c2],
            "active_images": pairs,
            "active_pool": npool,
            "accuracy_original": round(m.accuracy_original, 6),
            "accuracy_control": round(m.accuracy_control, 6),
            "rho_control": m.rho_control,
            "table": table,
            "fooling_curve": fooling_curve,
            "gallery": gallery,
            "thresholds": "FSR = fraction of held-out images whose per-image score s_i lies in the success interval "
            "(Heo et al.'s definition; s_i as their released code computes it). Intervals, robex's protocol "
            "constants: location [0, 0.2], top-k [0, 0.3], center-mass [0.1, 1]; active: swap score > 0. "
            "transfers_to: explainers whose Spearman correlation with the original maps dropped ≥ "
            f"{m.transfer_drop:g} more than the control's. accuracy_cost (the score): the better of the original "
            "and the λ = 0 control − after; accuracy_drop_vs_control: control − after. fooling_curve: the headline "
            "run's FSR at checkpoints of its fine-tuning, averaged over the run (the score manipulation_fsr_auc).",
        }
        details.update({f"correct_{who}": v.int().tolist() for who, v in correct.items()})
        if skipped:
            details["skipped"] = skipped
        return StageOutput(scores=tuple(v for v in scores if v is not None), details=details)
