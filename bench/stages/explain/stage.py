"""The ``explain`` stage: its scores and the cell that computes them for every explainer of the track."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from bench.explainers.base import ranking, relevance
from bench.explainers.functional import class_activation_maps
from bench.plugins import STAGES, register_score
from bench.protocols import Explainer, Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.scores import explanation_robustness as er
from bench.scores import fidelity, road
from bench.stage_settings import NESTED, StageSettings, settings_dataclass
from bench.stages.explain.boopathy import boopathy
from bench.stages.explain.gallery import gallery
from bench.stages.explain.measures import (
    build_explainers,
    explain_in_batches,
    json_float,
    mean_curve,
    mean_interval,
    score,
)
from bench.track import Track
from bench.types import ScoreSpec

DELETION = register_score(builtin_spec("deletion_auc"))


INSERTION = register_score(builtin_spec("insertion_auc"))


FAITHFULNESS = register_score(builtin_spec("faithfulness_correlation"))


SENSITIVITY = register_score(builtin_spec("max_sensitivity"))


ROAD_MORF = register_score(builtin_spec("road_morf_auc"))


ROAD_LERF = register_score(builtin_spec("road_lerf_auc"))


ROAD_GAP = register_score(builtin_spec("road_gap"))


ROAD_KEPT_MORF = register_score(builtin_spec("road_kept_morf_auc"))


ROAD_KEPT_LERF = register_score(builtin_spec("road_kept_lerf_auc"))


ROAD_KEPT_GAP = register_score(builtin_spec("road_kept_gap"))


KENDALL = register_score(builtin_spec("explanation_topk_kendall_tau"))


DISCREPANCY = register_score(builtin_spec("explanation_discrepancy_ratio"))


#: The per-explainer table's columns and the score each measures (the primary explainer's are the stage's scores,
#: in this order; the site's explainer comparison reads the mapping from the record).
TABLE_SCORES: dict[str, ScoreSpec] = {
    "road_kept_gap": ROAD_KEPT_GAP,
    "road_kept_morf": ROAD_KEPT_MORF,
    "road_kept_lerf": ROAD_KEPT_LERF,
    "road_gap": ROAD_GAP,
    "road_morf": ROAD_MORF,
    "road_lerf": ROAD_LERF,
    "deletion": DELETION,
    "insertion": INSERTION,
    "faithfulness": FAITHFULNESS,
    "sensitivity": SENSITIVITY,
}


def road_columns(rc: road.RoadCurves, fractions: list[float]) -> dict[str, Tensor]:
    """Per-image ROAD AUCs and gaps of both readouts (predictions kept, probability), by table column."""
    out: dict[str, Tensor] = {}
    for prefix, morf, lerf in (("road_kept", rc.morf_kept, rc.lerf_kept), ("road", rc.morf, rc.lerf)):
        out[f"{prefix}_morf"] = road.trapezoid_auc(morf, fractions)
        out[f"{prefix}_lerf"] = road.trapezoid_auc(lerf, fractions)
        out[f"{prefix}_gap"] = out[f"{prefix}_lerf"] - out[f"{prefix}_morf"]
    return out


@settings_dataclass(frozen=True, config=NESTED)
class WoodsSettings:
    """Woods et al.'s adversarial explanations in the gallery: step factor, overshoot, steps."""

    rho: float = 0.1
    overshoot: float = 5.0
    steps: int = 35


@settings_dataclass(frozen=True)
class ExplainSettings(StageSettings):
    """``[stages.explain]``. ``None`` defaults come from the track: ``explainers`` its list, ``primary`` the
    first of them, ``sensitivity_explainers`` all of them, ``step`` and ``faithfulness_subset`` the image width,
    ``topk_eps`` its ε and ``topk_step_size`` 2.5 · ``topk_eps`` / ``topk_steps``; ``eps`` is always the track's."""

    n: int | None = None
    explainers: list[str] | None = None
    primary: str | None = None
    options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    batch_size: int = 500
    step: int | None = None
    blur_size: int = 11
    blur_sigma: float = 5.0
    faithfulness_runs: int = 100
    faithfulness_subset: int | None = None
    curves: list[str] = dataclasses.field(default_factory=lambda: ["gradcam"])
    road_n: int = 100
    road_fractions: list[float] = dataclasses.field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    road_noise: float = road.NOISE
    sensitivity_n: int = 100
    sensitivity_explainers: list[str] | None = None
    sensitivity_radius: float = 0.02
    sensitivity_samples: int = 10
    robustness_n: int = 200
    gallery: int = 6
    woods: WoodsSettings = dataclasses.field(default_factory=WoodsSettings)
    eps: float | None = None
    topk_k: int = 8
    topk_steps: int = 20
    topk_step_size: float | None = None
    topk_eps: float | None = None
    discrepancy_steps: int = 20
    discrepancy_kappa: float = 0.1
    discrepancy_gamma: float = 0.0

    def resolve(self, track: Track, quick: bool) -> ExplainSettings:
        """The defaults that come from the track."""
        if self.eps is not None:
            raise ValueError("[stages.explain] cannot set eps: it is the track's threat model ε")
        names = list(self.explainers) if self.explainers is not None else list(track.explainers)
        width = int(track.input_shape[-1])
        eps = float(track.threat.eps)
        topk_eps = self.topk_eps if self.topk_eps is not None else eps
        return dataclasses.replace(
            self,
            explainers=names,
            primary=self.primary if self.primary is not None else (names[0] if names else None),
            step=self.step if self.step is not None else width,
            faithfulness_subset=self.faithfulness_subset if self.faithfulness_subset is not None else width,
            sensitivity_explainers=(
                self.sensitivity_explainers if self.sensitivity_explainers is not None else list(names)
            ),
            eps=eps,
            topk_eps=topk_eps,
            topk_step_size=(self.topk_step_size if self.topk_step_size is not None else 2.5 * eps / self.topk_steps),
        )


@STAGES.register("explain")
class ExplainStage(Stage):
    """Fidelity and robustness of the track's explainers on the entry's model (see the module docstring)."""

    summary = "fidelity and robustness of the track's explainers on the entry's model"

    order = 60
    version = "5"  # 5: ROAD's headline is the share of predictions kept (Rong et al.'s accuracy-style readout),
    # LeRF removes all but int((1 − p)·HW) pixels (their rounding); 4: ROAD; 3: gallery rows of maps carry their
    # colour scale; 2: per-image τ in the record; the CAM discrepancy divided by its margin bound

    Settings = ExplainSettings

    def run(self, ctx: Any) -> StageOutput:
        """Compute every explanation score of the entry (see the module docstring)."""
        s = ctx.settings
        names = list(s["explainers"])
        if not names:
            raise ValueError(f"track {ctx.track.name!r} lists no explainers")
        primary = str(s["primary"])
        if primary not in names:
            raise ValueError(f"[stages.explain] primary = {primary!r} is not among the explainers {names}")
        explainers = build_explainers(names, s["options"])
        model = ctx.model()
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        x, y = ctx.eval_batch()
        bs = int(s["batch_size"])
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + bs]).argmax(1) for i in range(0, len(x), bs)])
        maps = {n: explain_in_batches(e, model, x, pred, ctx.generator("map", n), bs) for n, e in explainers.items()}
        ctx.progress(1, 5)

        # fidelity: RISE and Bhatt et al.
        step = int(s["step"])
        kernel = fidelity.rise_kernel(int(s["blur_size"]), float(s["blur_sigma"]))
        features = x.shape[-1] * x.shape[-2]
        masks = fidelity.random_subsets(
            len(x),
            features,
            int(s["faithfulness_runs"]),
            int(s["faithfulness_subset"]),
            ctx.generator("faithfulness"),
        )
        drops = fidelity.subset_logit_drops(model, x, pred, masks, batch_size=bs * 2)
        nr = int(s["road_n"])
        fractions = [float(f) for f in s["road_fractions"]]
        road_x = [0.0, *fractions]
        per: dict[str, dict[str, Tensor]] = {}
        curves: dict[str, Any] = {}
        for name, m in maps.items():
            rel = relevance(m, ranking(explainers[name]))
            deletion, insertion, _ = fidelity.causal_curves(model, x, rel, step=step, kernel=kernel, batch_size=bs * 2)
            rc = road.road_curves(
                model,
                x[:nr],
                rel[:nr],
                fractions,
                generator=ctx.generator("road", name),
                noise=float(s["road_noise"]),
                target=pred[:nr],
                batch_size=bs * 2,
            )
            per[name] = {
                "deletion": fidelity.auc(deletion),
                "insertion": fidelity.auc(insertion),
                "faithfulness": fidelity.faithfulness_correlation(m, masks, drops),
                **road_columns(rc, road_x),
            }
            if name in (primary, *s["curves"]):
                prob, kept = "p(predicted class)", "share of predictions kept"
                curves[f"deletion_{name}"] = mean_curve(f"Deletion curve ({name})", deletion, prob)
                curves[f"insertion_{name}"] = mean_curve(f"Insertion curve ({name})", insertion, prob)
                curves[f"road_morf_{name}"] = mean_curve(f"ROAD MoRF curve ({name})", rc.morf, prob, road_x)
                curves[f"road_lerf_{name}"] = mean_curve(f"ROAD LeRF curve ({name})", rc.lerf, prob, road_x)
                curves[f"road_kept_morf_{name}"] = mean_curve(
                    f"ROAD MoRF, predictions kept ({name})", rc.morf_kept, kept, road_x
                )
                curves[f"road_kept_lerf_{name}"] = mean_curve(
                    f"ROAD LeRF, predictions kept ({name})", rc.lerf_kept, kept, road_x
                )
        ctx.progress(2, 5)

        # max-sensitivity
        ns = int(s["sensitivity_n"])
        xs, ps = x[:ns], pred[:ns]
        sensitive = list(s["sensitivity_explainers"])
        missing = sorted(set(sensitive) - set(names))
        if missing:
            raise ValueError(f"[stages.explain] sensitivity_explainers {missing} are not among the explainers {names}")
        for name in sensitive:
            e = explainers[name]
            gen = ctx.generator("sensitivity", name)

            def explain(xb: Tensor, tb: Tensor, e: Explainer = e, name: str = name) -> Tensor:
                return explain_in_batches(e, model, xb, tb, ctx.generator("sensitivity-maps", name), bs)

            per[name]["sensitivity"] = er.max_sensitivity(
                explain,
                xs,
                ps,
                radius=float(s["sensitivity_radius"]),
                samples=int(s["sensitivity_samples"]),
                generator=gen,
                batch_size=bs * 2,
                expl=maps[name][:ns],
            )
        ctx.progress(3, 5)

        table = []
        for name in names:
            row: dict[str, Any] = {"explainer": name}
            for key in TABLE_SCORES:
                values = per[name].get(key)
                row[key] = None if values is None else json_float(mean_interval(values)[0])
            table.append(row)
        results = [score(TABLE_SCORES[key].name, per[primary][key]) for key in TABLE_SCORES if key in per[primary]]
        details: dict[str, Any] = {
            "primary": primary,
            "explained_class": "predicted",
            "images": len(x),
            "sensitivity_images": len(xs),
            "step": step,
            "road": {"images": min(nr, len(x)), "fractions": fractions, "noise": float(s["road_noise"])},
            "table": table,
            # the score each table column measures (per explainer): the site's explainer comparison reads it
            "table_scores": {key: spec.name for key, spec in TABLE_SCORES.items()},
            "curves": curves,
        }

        # Boopathy et al. (needs a CAM)
        nb = int(s["robustness_n"])
        xb, yb = x[:nb], y[:nb]
        try:
            class_activation_maps(model, xb[:1])
        except TypeError as exc:
            details["boopathy"] = {"skipped": str(exc)}
        else:
            tau, ratio, bdetails = boopathy(model, xb, yb, s, float(s["eps"]), ctx.generator("boopathy"))
            details["boopathy"] = bdetails
            results.append(score(KENDALL.name, tau))
            results.append(score(DISCREPANCY.name, ratio))
        ctx.progress(4, 5)

        ng = int(s["gallery"])
        details["gallery"] = gallery(
            model,
            x[:ng],
            pred[:ng],
            {n: m[:ng] for n, m in maps.items()},
            explainers,
            ctx.track.class_names,
            s["woods"],
        )
        ctx.progress(5, 5)
        return StageOutput(scores=tuple(r for r in results if r is not None), details=details)
