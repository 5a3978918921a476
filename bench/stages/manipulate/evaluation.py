"""Evaluating a manipulation: fooling rates, accuracy cost against the λ = 0 control, transfer, fidelity."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from bench.explainers.base import ranking, relevance
from bench.explainers.images import input_row, map_row
from bench.plugins import EXPLAINERS
from bench.protocols import Explainer
from bench.scores import fidelity
from bench.scores import manipulation as hm
from bench.scores.manipulation import FSR_INTERVALS, FoolingLoss, Interval
from bench.stages.manipulate.curve import FoolingCurve
from bench.stages.manipulate.fine_tuning import Run
from bench.stages.manipulate.objectives import WHO, Heldout, Interpreter, Objective

log = logging.getLogger(__name__)


@torch.no_grad()
def per_image_correct(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> Tensor:
    """Per image: the top-1 prediction is the label (bool, on the CPU)."""
    parts = [
        (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).cpu() for i in range(0, len(y), batch_size)
    ]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool)


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy."""
    return int(per_image_correct(model, x, y, batch_size).sum()) / len(y)


def explainer_maps(
    model: nn.Module, explainers: Mapping[str, Explainer], x: Tensor, y: Tensor, seed: int
) -> dict[str, Tensor]:
    """Relevance ``(N, H, W)`` of every explainer that applies to the model (same seed for every model)."""
    out = {}
    for name, e in explainers.items():
        try:
            maps = e.attribute(model, x, y, generator=torch.Generator().manual_seed(seed))
        except TypeError as exc:  # e.g. CAM on a model without a GAP head
            log.info("transfer: %s skipped: %s", name, exc)
            continue
        out[name] = relevance(maps, ranking(e))
    return out


def transfer_targets(
    rho: Mapping[str, float | None], rho_control: Mapping[str, float | None], attacked: str, drop: float
) -> list[str]:
    """Explainers (other than the attacked one) whose maps moved at least ``drop`` more than the control's.

    >>> transfer_targets({"a": 0.2, "b": 0.95, "c": 0.1}, {"a": 0.9, "b": 0.97, "c": 0.9}, "c", 0.1)
    ['a']
    """
    out = []
    for name, value in rho.items():
        ref = rho_control.get(name)
        if name != attacked and value is not None and ref is not None and ref - value >= drop:
            out.append(name)
    return sorted(out)


def mean_spearman(a: Tensor, b: Tensor) -> float | None:
    """Mean Spearman correlation of paired maps (NaN rows ignored), ``None`` if all are NaN."""
    rho = hm.spearman_rows(a, b)
    rho = rho[torch.isfinite(rho)]
    return round(float(rho.mean()), 6) if rho.numel() else None


@dataclass(frozen=True)
class Fidelity:
    """Per-image RISE deletion and insertion AUC of one explainer on one model."""

    deletion: Tensor
    insertion: Tensor

    @property
    def means(self) -> tuple[float, float]:
        """(mean deletion AUC, mean insertion AUC), rounded for the record."""
        return round(float(self.deletion.mean()), 6), round(float(self.insertion.mean()), 6)


def fidelity_of(model: nn.Module, explainer: Explainer, x: Tensor, kernel: Tensor) -> Fidelity:
    with torch.no_grad():
        pred = model(x).argmax(1)
    rel = relevance(explainer.attribute(model, x, pred), ranking(explainer))
    d, i, _ = fidelity.causal_curves(model, x, rel, step=x.shape[-1], kernel=kernel)
    return Fidelity(fidelity.auc(d), fidelity.auc(i))


def per_image_list(values: Tensor) -> list[float]:
    return [round(float(v), 6) for v in values]


@dataclass
class Manipulation:
    """Everything one ``manipulate`` cell shares between its runs: the original model, the λ = 0 control, the
    held-out data, and the maps of the original and the control (computed once)."""

    original: nn.Module
    control: nn.Module
    heldout: Heldout
    explainers: Mapping[str, Explainer]
    transfer_x: Tensor
    transfer_y: Tensor
    fidelity_x: Tensor
    seed: int
    transfer_drop: float
    class_names: tuple[str, ...]
    gallery_n: int

    def __post_init__(self) -> None:
        self.kernel = fidelity.rise_kernel()
        self.accuracy_original = accuracy(self.original, self.heldout.x, self.heldout.y)
        self.accuracy_control = accuracy(self.control, self.heldout.x, self.heldout.y)
        self.maps_original = explainer_maps(self.original, self.explainers, self.transfer_x, self.transfer_y, self.seed)
        maps_control = explainer_maps(self.control, self.explainers, self.transfer_x, self.transfer_y, self.seed)
        self.rho_control = {n: mean_spearman(self.maps_original[n], maps_control[n]) for n in maps_control}
        self._heldout_maps: dict[tuple[str, str, str], Tensor] = {}
        self.fidelity_of: dict[tuple[str, str], Fidelity] = {}
        self._shown: set[str] = set()

    def heldout_maps(self, who: str, interp: Interpreter, objective: Objective) -> Tensor:
        """Held-out maps of the original (``who="original"``) or the control, cached per interpreter."""
        key = (who, interp.name, objective.kind)
        if key not in self._heldout_maps:
            model = self.original if who == "original" else self.control
            self._heldout_maps[key] = objective.heldout_maps(model, interp, self.heldout)
        return self._heldout_maps[key]

    def fidelity(self, model: nn.Module | str, name: str) -> Fidelity:
        """Per-image deletion and insertion AUC of explainer ``name`` on ``model`` (``"original"`` or
        ``"control"``: those models, cached per explainer)."""
        explainer = self.explainers.get(name) or EXPLAINERS.create(name)
        if isinstance(model, str):
            if (model, name) not in self.fidelity_of:
                shared = self.original if model == "original" else self.control
                self.fidelity_of[(model, name)] = fidelity_of(shared, explainer, self.fidelity_x, self.kernel)
            return self.fidelity_of[(model, name)]
        return fidelity_of(model, explainer, self.fidelity_x, self.kernel)

    def curve(self, interp: Interpreter, objective: Objective, interval: Interval, steps: list[int]) -> FoolingCurve:
        """An observer of a run's fooling at ``steps`` (:class:`~bench.stages.manipulate.curve.FoolingCurve`)."""
        h_orig = self.heldout_maps("original", interp, objective)
        return FoolingCurve(interp, objective, interval, self.heldout, h_orig, steps)

    def evaluate(self, run: Run, interp: Interpreter, objective: Objective, fooled: nn.Module) -> dict[str, Any]:
        """The table row of a finished run (FSR before/after/control, accuracy cost, transfer, fidelity)."""
        interval = FSR_INTERVALS[run.loss]
        h_orig = self.heldout_maps("original", interp, objective)
        before = objective.heldout_scores(h_orig, h_orig)
        after = objective.heldout_scores(objective.heldout_maps(fooled, interp, self.heldout), h_orig)
        ctrl = objective.heldout_scores(self.heldout_maps("control", interp, objective), h_orig)
        acc = accuracy(fooled, self.heldout.x, self.heldout.y)
        rho: dict[str, float | None] = {}
        fid: dict[str, Any] = {f"{m}_auc_{w}": None for m in ("deletion", "insertion") for w in WHO}
        if objective.kind == "passive":  # the active objective fools maps of composites, not of these images
            maps = explainer_maps(fooled, self.explainers, self.transfer_x, self.transfer_y, self.seed)
            rho = {n: mean_spearman(self.maps_original[n], maps[n]) for n in maps}
            per = {
                "before": self.fidelity("original", interp.explainer),
                "control": self.fidelity("control", interp.explainer),
                "after": self.fidelity(fooled, interp.explainer),
            }
            for who, f in per.items():
                fid[f"deletion_auc_{who}"], fid[f"insertion_auc_{who}"] = f.means
            fid["deletion_auc_images"] = {who: per_image_list(f.deletion) for who, f in per.items()}
        return {
            "run": run.label,
            "lambda": run.lam,
            "interval": [interval.low, interval.high],
            "images": len(after),
            "fsr_original": round(hm.success_rate(before, interval), 6),
            "fsr": round(hm.success_rate(after, interval), 6),
            "fsr_control": round(hm.success_rate(ctrl, interval), 6),
            "score_mean": round(float(after.mean()), 6),
            "accuracy_before": round(self.accuracy_original, 6),
            "accuracy_after": round(acc, 6),
            "accuracy_control": round(self.accuracy_control, 6),
            "accuracy_drop": round(self.accuracy_original - acc, 6),
            "accuracy_drop_vs_control": round(self.accuracy_control - acc, 6),
            "accuracy_cost": round(hm.accuracy_cost(self.accuracy_original, self.accuracy_control, acc), 6),
            "transfers_to": transfer_targets(rho, self.rho_control, interp.explainer, self.transfer_drop),
            **{f"rho_{n}": v for n, v in rho.items()},
            **fid,
        }

    def gallery(self, run: Run, interp: Interpreter, fooled: nn.Module, c1: int, c2: int) -> list[dict[str, Any]]:
        """Gallery rows of a run: the original and control maps once per interpreter, then the fooled maps."""
        ng = self.gallery_n
        rows: list[dict[str, Any]] = []
        if run.loss is FoolingLoss.ACTIVE:
            if self.heldout.composites is None:
                return rows
            xc = self.heldout.composites[:ng]
            lab = [f"#{i}" for i in range(len(xc))]
            if "composites" not in self._shown:
                self._shown.add("composites")
                rows.append(input_row(f"Active fooling: composites of classes {c1} (left) and {c2} (right)", xc, lab))
            target = torch.full((len(xc),), c1, device=xc.device)
            for who, model in (("original model", self.original), (f"after swap fooling (λ = {run.lam:g})", fooled)):
                h = interp.maps(model, xc, target, False)[0]
                rows.append(map_row(f"{interp.title} of class {c1}, {who}", interp.display(h, xc), lab))
            return rows
        x, y = self.heldout.x[:ng], self.heldout.y[:ng]
        labels = [f"#{i} {self.class_names[int(c)]}" for i, c in enumerate(y)]
        if interp.name not in self._shown:
            self._shown.add(interp.name)
            for who, model in (("original model", self.original), ("control (λ = 0)", self.control)):
                h = interp.maps(model, x, y, False)[0]
                rows.append(map_row(f"{interp.title}, {who}", interp.display(h, x), labels))
        h = interp.maps(fooled, x, y, False)[0]
        caption = f"{interp.title} after {run.loss.value} fooling (λ = {run.lam:g})"
        rows.append(map_row(caption, interp.display(h, x), labels))
        return rows
