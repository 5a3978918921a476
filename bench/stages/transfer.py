"""Transfer robustness: the ``craft`` ENTRY stage and the ``transfer`` PAIR stage.

Ross & Doshi-Velez (AAAI 2018, https://arxiv.org/abs/1711.09404): every model is evaluated on the adversarial
examples crafted on every model of the track. ``craft`` runs once per (source) entry: FGSM and TGSM on the
track's ε grid (Ross & Doshi-Velez's ``eps_grid``) and PGD at the track's ε, on the first ``n`` evaluation
images, stored as 8-bit tensors in the cell (``attacks.transfer.craft``). ``transfer`` has one cell per
(source, target): the target's accuracy on each crafted set, with forward passes only. An image counts as
robust only when the target classifies both the crafted example and the clean image correctly
(:func:`attacks.transfer.transfer_robust`): a targeted attack such as TGSM can push an image the target
misclassifies clean *into* its true class, and that is not robustness.

Crafting follows the usual transfer protocol: **every** image is perturbed (also those the source already
misclassifies; :func:`attacks.transfer.craft`), and PGD (and iterated TGSM) runs its full budget and keeps the
**final iterate** (``early_stop=False``), not the first iterate past the source's decision boundary, which
transfers poorly.
Restart policy (``pgd_restarts``, default 1): restart r + 1 runs only on the images whose restart-r final
iterate the source still classifies correctly; each image keeps the first final iterate that fools the
source, or the last restart's final iterate if none does. Each cell's key
depends only on the source's craft cell and the target's weights, so adding one entry to a track of N − 1
costs one crafting run and 2N − 1 pair cells; nothing already computed is recomputed.

``summarize`` builds each entry's record section: its column (accuracy as target, per source) and row (as
source, per target) at the headline attack (PGD at the track ε), the mean and worst over the *other* sources
(the mean with a BCa bootstrap interval over images of its per-image share ``mean_robust``; the worst and the
surrogate's with Wilson intervals), the accuracy on examples from the track's fixed surrogates (``surrogates``,
e.g. the ``standard`` entry), the grid, and the accuracy-vs-nominal-ℓ∞-budget curves (white-box = the
diagonal, from the surrogates, mean over other sources), labelled as such: they are not Woods' ARA.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from bench.plugins import ATTACKS, STAGES, register_score
from bench.protocols import Scope, Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import image_bootstrap
from bench.results.labels import attack_label, parse_label
from bench.scores.accuracy import accuracy_score
from bench.scores.ara import budget_area
from bench.scores.transfer import mean_over_sources, parse_eps, summarize_row
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.clean import predict
from bench.stages.sanity import attack_model
from bench.track import Track
from bench.types import ScoreValue, ThreatModel

MEAN = register_score(builtin_spec("transfer_accuracy_mean"))
WORST = register_score(builtin_spec("transfer_accuracy_worst"))
SURROGATE = register_score(builtin_spec("transfer_accuracy_surrogate"))

GRID_ATTACKS: tuple[str, ...] = ("fgsm", "tgsm")


def craft_plan(track: Track, settings: Mapping[str, Any]) -> list[tuple[str, str, ThreatModel, dict[str, Any]]]:
    """(label, attack, threat, kwargs) of every crafted set: the grid attacks at each ε of ``eps_grid`` and
    PGD at the track's ε (the headline); the iterative attacks at full budget (``early_stop=False``: the final
    iterate; see the module docstring for PGD's restart policy)."""
    base = track.threat
    plan: list[tuple[str, str, ThreatModel, dict[str, Any]]] = []
    for attack in settings["grid_attacks"]:
        for value in settings["eps_grid"]:
            eps = parse_eps(value)
            threat = ThreatModel(base.norm, eps, f"{base.norm.value}:{value}", base.lower, base.upper)
            kwargs: dict[str, Any] = (
                {"steps": int(settings["tgsm_steps"]), "early_stop": False} if attack == "tgsm" else {}
            )
            plan.append((attack_label(attack, eps), attack, threat, kwargs))
    pgd_kwargs: dict[str, Any] = {
        "steps": int(settings["pgd_steps"]),
        "step_size": float(settings["pgd_step_size"]),
        "random_start": True,
        "restarts": int(settings["pgd_restarts"]),
        "early_stop": False,  # the full-budget final iterate, never the first iterate past the source's boundary
    }
    plan.append((headline_label(track), "pgd", base, pgd_kwargs))
    return plan


def headline_label(track: Track) -> str:
    """The crafted set the leaderboard columns use: PGD at the track's ε."""
    return attack_label("pgd", track.threat.eps)


@settings_dataclass(frozen=True)
class CraftSettings(StageSettings):
    """``[stages.craft]``: budgets as numbers or exact fractions (``"8/255"``)."""

    n: int = 256
    eps_grid: list[float | str] = dataclasses.field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])
    grid_attacks: list[str] = dataclasses.field(default_factory=lambda: list(GRID_ATTACKS))
    tgsm_steps: int = 1
    pgd_steps: int = 40
    pgd_step_size: float = 0.01
    pgd_restarts: int = 1
    eot_draws: int = 8


@settings_dataclass(frozen=True)
class TransferSettings(StageSettings):
    """``[stages.transfer]``: the fixed surrogate sources of the comparable ``transfer_accuracy_surrogate``."""

    surrogates: list[str] = dataclasses.field(default_factory=lambda: ["standard"])


@STAGES.register("craft")
class CraftStage(Stage):
    """Adversarial examples crafted on the entry's model, kept as uint8 tensors in the cell store."""

    summary = "adversarial examples crafted on the entry's model, for the transfer stage"

    order = 40
    version = "2"  # v2: every image, PGD's full-budget final iterate (v1: correct-only, early stop)

    Settings = CraftSettings

    def run(self, ctx: Any) -> StageOutput:
        """Craft every set of :func:`craft_plan` on the entry's model."""
        from attacks.transfer import craft

        s = ctx.settings
        model = attack_model(ctx.model(), ctx.randomized(), int(s["eot_draws"]))
        x, y = ctx.eval_batch()
        plan = craft_plan(ctx.track, s)
        tensors: dict[str, Tensor] = {}
        for i, (label, name, threat, kwargs) in enumerate(plan):
            attack = ATTACKS.create(name, threat, **kwargs)
            tensors[label] = craft(attack, model, x, y, ctx.generator(label)).cpu()
            ctx.progress(i + 1, len(plan))
        return StageOutput(
            details={"n": len(y), "labels": [p[0] for p in plan], "headline": headline_label(ctx.track)},
            tensors=tensors,
        )


@STAGES.register("transfer")
class TransferStage(Stage):
    """One (source, target) cell: the target's accuracy on every set crafted on the source (forward only)."""

    summary = "each entry's accuracy on the examples crafted on every other entry (transfer robustness)"

    scope = Scope.PAIR
    requires = ("craft",)
    order = 45
    version = "3"  # v3: a clean-misclassified image is never robust; v2: cells read the v2 craft sets

    Settings = TransferSettings

    def run(self, ctx: Any) -> StageOutput:
        """Accuracy of ``ctx.entry`` on the sets crafted on ``ctx.source``."""
        from attacks.transfer import transfer_robust

        crafted = ctx.dependency("craft")
        n = int(crafted.details["n"])
        model = ctx.model()
        x, y = ctx.eval_batch(n)
        clean = (predict(model, x) == y).cpu()
        accuracy: dict[str, float] = {}
        robust: dict[str, list[int]] = {}
        for label in crafted.details["labels"]:
            images = crafted.tensors[label]
            if tuple(images.shape) != tuple(x.shape):
                raise ValueError(f"crafted set {label!r} has shape {tuple(images.shape)}, expected {tuple(x.shape)}")
            resisted = transfer_robust(model, images, y, clean, device=ctx.device)
            accuracy[label] = float(resisted.float().mean())
            robust[label] = resisted.int().tolist()
        return StageOutput(
            details={
                "n": n,
                "clean_accuracy": float(clean.float().mean()),
                "accuracy": accuracy,
                "robust": robust,
                "headline": str(crafted.details["headline"]),
                "surrogates": list(ctx.settings["surrogates"]),
                "num_classes": ctx.track.num_classes,
                "track_eps": ctx.track.threat.eps,
            }
        )

    def summarize(self, entry: str, outputs: Mapping[tuple[str, str], StageOutput]) -> StageOutput:
        """The record section of ``entry`` (see the module docstring)."""
        as_target_out = {src: out for (src, tgt), out in sorted(outputs.items()) if tgt == entry}
        as_source_out = {tgt: out for (src, tgt), out in sorted(outputs.items()) if src == entry}
        if not as_target_out:
            return StageOutput()
        first = next(iter(as_target_out.values())).details
        headline, n = str(first["headline"]), int(first["n"])
        surrogates = [str(s) for s in first.get("surrogates", [])]
        K, track_eps = int(first["num_classes"]), float(first["track_eps"])
        as_target = {src: float(out.details["accuracy"][headline]) for src, out in as_target_out.items()}
        as_source = {tgt: float(out.details["accuracy"][headline]) for tgt, out in as_source_out.items()}
        row = summarize_row(as_target, entry)
        scores: list[ScoreValue] = []
        details: dict[str, Any] = {
            "attack": parse_label(headline)[0],
            "eps": parse_label(headline)[1],
            "label": headline,
            "n": n,
            "as_target": as_target,
            "as_source": as_source,
            "sources": list(row.sources),
            "surrogates": surrogates,
        }
        if row.mean is not None and row.worst_source is not None:
            mean_robust = mean_over_sources([as_target_out[s].details["robust"][headline] for s in row.sources])
            scores.append(ScoreValue(MEAN.name, row.mean, n, *image_bootstrap(np.mean, [mean_robust])))
            details["mean_robust"] = mean_robust
            worst_robust = as_target_out[row.worst_source].details["robust"][headline]
            scores.append(accuracy_score(WORST.name, worst_robust))
            details.update(mean=row.mean, worst=row.worst, worst_source=row.worst_source, worst_robust=worst_robust)
        if entry in as_target_out:
            details["self_robust"] = as_target_out[entry].details["robust"][headline]
            details["white_box"] = as_target[entry]
        surrogate = next((s for s in surrogates if s in as_target_out and s != entry), None)
        if surrogate is not None:
            scores.append(accuracy_score(SURROGATE.name, as_target_out[surrogate].details["robust"][headline]))
            details["surrogate"] = surrogate
        details["grid"] = self._grid(entry, as_target_out, surrogate)
        details["curves"], details["table"] = self._curves(entry, as_target_out, surrogate, K)
        details["attacks_at_eps"] = self._attacks_at_eps(as_target_out, track_eps, n)
        return StageOutput(scores=tuple(scores), details=details)

    @staticmethod
    def _grid(entry: str, outs: Mapping[str, StageOutput], surrogate: str | None) -> dict[str, Any]:
        """``{label: {"white_box", "surrogate", "mean", "worst", "worst_source", "by_source"}}``."""
        grid: dict[str, Any] = {}
        labels = next(iter(outs.values())).details["accuracy"].keys()
        for label in labels:
            by_source = {src: float(out.details["accuracy"][label]) for src, out in outs.items()}
            row = summarize_row(by_source, entry)
            grid[label] = {
                "white_box": by_source.get(entry),
                "surrogate": by_source.get(surrogate) if surrogate else None,
                "mean": row.mean,
                "worst": row.worst,
                "worst_source": row.worst_source,
                "by_source": by_source,
            }
        return grid

    @staticmethod
    def _curves(
        entry: str, outs: Mapping[str, StageOutput], surrogate: str | None, K: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Accuracy vs nominal ℓ∞ budget per grid attack (ε = 0 is clean accuracy) and the area above chance
        of each curve (:func:`bench.scores.ara.budget_area`; not Woods' ARA)."""
        curves: dict[str, Any] = {}
        table: list[dict[str, Any]] = []
        clean = float(next(iter(outs.values())).details["clean_accuracy"])  # the target's, the same in every cell
        labels = list(next(iter(outs.values())).details["accuracy"])
        attacks = sorted({parse_label(lb)[0] for lb in labels} - {"pgd"})
        for attack in attacks:
            points = sorted((parse_label(lb)[1], lb) for lb in labels if parse_label(lb)[0] == attack)
            eps = [0.0, *[e for e, _ in points]]
            series: dict[str, tuple[str, list[float]]] = {}
            if entry in outs:
                acc = [float(outs[entry].details["accuracy"][lb]) for _, lb in points]
                series["white_box"] = ("white-box (crafted on this model)", [clean, *acc])
            if surrogate is not None:
                acc = [float(outs[surrogate].details["accuracy"][lb]) for _, lb in points]
                series["surrogate"] = (f"transferred from surrogate {surrogate!r}", [clean, *acc])
            others = [s for s in outs if s != entry]
            if others:
                acc = [sum(float(outs[s].details["accuracy"][lb]) for s in others) / len(others) for _, lb in points]
                series["transfer_mean"] = (f"transferred, mean over {len(others)} other entries", [clean, *acc])
            for key, (what, ys) in series.items():
                curves[f"{attack}_{key}"] = {
                    "title": f"{attack.upper()} accuracy vs nominal ℓ∞ budget, {what} (not Woods' ARA)",
                    "x": eps,
                    "y": ys,
                    "xlabel": "nominal ℓ∞ budget ε",
                    "ylabel": "accuracy",
                }
                table.append({"curve": f"{attack.upper()} {what}", "area_above_chance": budget_area(eps, ys, K)})
        return curves, table

    @staticmethod
    def _attacks_at_eps(outs: Mapping[str, StageOutput], track_eps: float, n: int) -> dict[str, Any]:
        """Every crafted set within the track's budget, as one attack per set: an image is robust when the
        examples from *every* source (this entry's own included) fail on it (for ``robust_accuracy``); the
        worst single source is named."""
        found: dict[str, Any] = {}
        labels = next(iter(outs.values())).details["accuracy"].keys()
        for label in labels:
            if parse_label(label)[1] > track_eps * (1 + 1e-9):
                continue
            by_source = {src: float(out.details["accuracy"][label]) for src, out in outs.items()}
            worst = min(by_source, key=lambda s: (by_source[s], s))
            vectors = [out.details["robust"][label] for out in outs.values()]
            robust = [int(all(col)) for col in zip(*vectors, strict=True)]
            found[f"{label} from every source ({len(outs)})"] = {
                "accuracy": sum(robust) / n,
                "n": n,
                "robust": robust,
                "worst_source": worst,
                "worst_source_accuracy": by_source[worst],
            }
        return found
