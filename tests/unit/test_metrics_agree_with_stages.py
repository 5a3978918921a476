"""Every library metric (:mod:`bench.metrics`) called on a trained mnist5k model, its images and its attributions,
with the track's settings (:func:`bench.metrics.track_settings`) and the stage's generators, gives the numbers the
track's stage records: the ``explain``, ``manipulate`` and ``randomization`` stages run here on the same model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import bench.metrics as bm
from bench.data import TrackData
from bench.explainers.base import ranking
from bench.metrics import METRICS, track_settings
from bench.protocols import Explainer, StageOutput
from bench.scores import manipulation as hm
from bench.stages.explain.measures import build_explainers, explain_in_batches
from bench.stages.manipulate.objectives import INTERPRETERS
from bench.track import Track
from tests.stage_context import StageContext

pytestmark = pytest.mark.usefixtures("one_thread")

# (library value, stage value, tolerance): tables round to 6 decimals, scores keep every digit
Pair = tuple[float, float, float]
TABLE, EXACT = 1e-6, 1e-9


@dataclass
class Run:
    """A stage's output on the standard model, with what a library call needs to reproduce it."""

    ctx: StageContext
    out: StageOutput
    model: nn.Module
    x: Tensor
    y: Tensor
    pred: Tensor
    explainers: dict[str, Explainer]
    maps: dict[str, Tensor]

    @property
    def table(self) -> dict[str, dict[str, Any]]:
        return {row.get("explainer", row.get("run")): row for row in self.out.details["table"]}

    def score(self, name: str) -> float:
        return next(s.value for s in self.out.scores if s.name == name)

    def settings(self, metric: str) -> dict[str, Any]:
        return track_settings(metric, self.ctx.track, quick=True)


def run_stage(stage: str, track: Track, data: TrackData, model: nn.Module, **overrides: Any) -> Run:
    ctx = StageContext(stage, track, data, model, quick=True, **overrides)
    out = ctx.stage.run(ctx)
    m = ctx.model()
    x, y = ctx.eval_batch()
    with torch.no_grad():
        pred = m(x).argmax(1)
    names = [] if stage == "manipulate" else list(ctx.settings["explainers"])
    explainers = build_explainers(names, ctx.settings["options"] if names else {})
    maps = {n: explain_in_batches(e, m, x, pred, ctx.generator("map", n), 500) for n, e in explainers.items()}
    return Run(ctx, out, m, x, y, pred, explainers, maps)


@pytest.fixture(scope="module")
def explain(track: Track, data: TrackData, standard_model: nn.Module) -> Run:
    """Three explainers of the track: magnitude ranking, a random one (SmoothGrad), signed ranking (CAM)."""
    return run_stage(
        "explain",
        track,
        data,
        standard_model,
        explainers=["saliency", "smoothgrad", "cam"],
        sensitivity_explainers=["saliency", "smoothgrad", "cam"],
        options={"smoothgrad": {"samples": 4, "sigma": 0.15}},
        curves=[],
    )


@pytest.fixture(scope="module")
def manipulate(track: Track, data: TrackData, standard_model: nn.Module) -> Run:
    runs = ["gradcam:location", "gradcam:topk", "saliency:location"]
    return run_stage("manipulate", track, data, standard_model, runs=runs, explainers=["saliency"], options={})


@pytest.fixture(scope="module")
def randomization(track: Track, data: TrackData, standard_model: nn.Module) -> Run:
    return run_stage("randomization", track, data, standard_model)


# ----------------------------------------------------------------------------------------------- explain
def fidelity_pairs(r: Run, metric: str, column: str, score: str, prefix: str | None = None) -> list[Pair]:
    """Every explainer's mean against the stage's table, the primary's against its score."""
    n = int(r.ctx.settings[prefix]) if prefix else len(r.x)
    kw = r.settings(metric)
    gen = {"faithfulness_correlation": lambda name: r.ctx.generator("faithfulness")}.get(
        metric, lambda name: r.ctx.generator("road", name)
    )
    pairs: list[Pair] = []
    for name, e in r.explainers.items():
        extra: dict[str, Any] = {} if metric in ("deletion", "insertion") else {"generator": gen(name)}
        if metric != "faithfulness_correlation":
            extra["ranking"] = ranking(e)
        values = getattr(bm, metric)(r.model, r.x[:n], r.pred[:n], r.maps[name][:n], **kw, **extra)
        mean = float(np.nanmean(values.astype(np.float64)))  # the stage averages the finite values
        pairs.append((mean, r.table[name][column], TABLE))
        if name == r.out.details["primary"]:
            pairs.append((mean, r.score(score), EXACT))
    return pairs


def sensitivity_pairs(r: Run) -> list[Pair]:
    ns, pairs = int(r.ctx.settings["sensitivity_n"]), []
    for name in r.ctx.settings["sensitivity_explainers"]:
        values = bm.max_sensitivity(
            r.model,
            r.x[:ns],
            r.pred[:ns],
            r.maps[name][:ns],
            explainer=r.explainers[name],
            generator=r.ctx.generator("sensitivity", name),
            explain_seed=r.ctx.generator("sensitivity-maps", name).initial_seed(),
            **r.settings("max_sensitivity"),
        )
        pairs.append((float(np.mean(values, dtype=np.float64)), r.table[name]["sensitivity"], TABLE))
    return pairs


def boopathy_pairs(r: Run, metric: str) -> list[Pair]:
    nb = int(r.ctx.settings["robustness_n"])
    values = getattr(bm, metric)(
        r.model, r.x[:nb], r.y[:nb], generator=r.ctx.generator("boopathy"), **r.settings(metric)
    )
    finite = values[np.isfinite(values)]
    if metric == "topk_kendall_tau":
        recorded = r.out.details["boopathy"]["topk"]["tau"]
        assert [v is None for v in recorded] == list(~np.isfinite(values)), "NaN exactly where the prediction changed"
        pairs = [
            (float(v), float(w), TABLE) for v, w in zip(finite, [w for w in recorded if w is not None], strict=True)
        ]
        return [*pairs, (float(np.mean(finite, dtype=np.float64)), r.score("explanation_topk_kendall_tau"), EXACT)]
    assert len(finite) == r.out.details["boopathy"]["targeted"]["ratio_images"]
    return [(float(np.mean(finite, dtype=np.float64)), r.score("explanation_discrepancy_ratio"), EXACT)]


# ----------------------------------------------------------------------------------------------- manipulate
def fooling_pairs(r: Run, metric: str) -> list[Pair]:
    """The manipulate stage's FSR of the original model ("before") from the library's per-image scores of the same
    held-out maps (Grad-CAM at the CAM layer, saliency summed over channels; true labels explained)."""
    loss = {"fooling_location": hm.FoolingLoss.LOCATION, "fooling_topk": hm.FoolingLoss.TOPK}.get(metric)
    pairs: list[Pair] = []
    for interp_name in ("gradcam", "saliency"):
        label = f"{interp_name}:{metric.removeprefix('fooling_')}"
        h = INTERPRETERS.get(interp_name).maps(r.model, r.x, r.y, False)[0]
        kw = {} if metric == "fooling_location" else {"a_original": h}
        scores = getattr(bm, metric)(r.model, r.x, r.y, h, **kw)
        if label in r.table and loss is not None:
            rate = hm.success_rate(torch.from_numpy(scores), hm.FSR_INTERVALS[loss])
            pairs.append((rate, r.table[label]["fsr_original"], TABLE))
        if metric == "fooling_center_mass":  # unfooled maps have not moved: the "before" score is 0 on every image
            pairs += [(float(v), 0.0, 1e-6) for v in scores]
    return pairs


# ----------------------------------------------------------------------------------------------- randomization
def randomization_pairs(r: Run) -> list[Pair]:
    pairs: list[Pair] = []
    for name, e in r.explainers.items():
        seed = r.ctx.generator("map", name).initial_seed()
        recorded = r.out.details["per_image"][name]
        for similarity in ("spearman", "ssim"):
            values = bm.model_randomization(
                r.model,
                r.x,
                r.pred,
                r.maps[name],
                explainer=e,
                similarity=similarity,
                generator=r.ctx.generator("weights"),
                explain_seed=seed,
            )
            pairs += [(float(v), w, TABLE) for v, w in zip(values, recorded[similarity], strict=True)]
    primary = r.out.details["primary"]
    pairs.append(
        (float(np.mean(r.out.details["per_image"][primary]["spearman"])), r.score("randomization_spearman"), EXACT)
    )
    return pairs


COMPARISONS: dict[str, tuple[str, Callable[[Run], list[Pair]]]] = {
    "deletion": ("explain", lambda r: fidelity_pairs(r, "deletion", "deletion", "deletion_auc")),
    "insertion": ("explain", lambda r: fidelity_pairs(r, "insertion", "insertion", "insertion_auc")),
    "road": ("explain", lambda r: fidelity_pairs(r, "road", "road_gap", "road_gap", "road_n")),
    "road_morf": ("explain", lambda r: fidelity_pairs(r, "road_morf", "road_morf", "road_morf_auc", "road_n")),
    "road_lerf": ("explain", lambda r: fidelity_pairs(r, "road_lerf", "road_lerf", "road_lerf_auc", "road_n")),
    "faithfulness_correlation": (
        "explain",
        lambda r: fidelity_pairs(r, "faithfulness_correlation", "faithfulness", "faithfulness_correlation"),
    ),
    "max_sensitivity": ("explain", sensitivity_pairs),
    "topk_kendall_tau": ("explain", lambda r: boopathy_pairs(r, "topk_kendall_tau")),
    "discrepancy_ratio": ("explain", lambda r: boopathy_pairs(r, "discrepancy_ratio")),
    "fooling_location": ("manipulate", lambda r: fooling_pairs(r, "fooling_location")),
    "fooling_topk": ("manipulate", lambda r: fooling_pairs(r, "fooling_topk")),
    "fooling_center_mass": ("manipulate", lambda r: fooling_pairs(r, "fooling_center_mass")),
    "model_randomization": ("randomization", randomization_pairs),
}


def test_every_metric_is_compared_with_its_stage() -> None:
    assert set(COMPARISONS) == set(METRICS.names())


@pytest.mark.parametrize("name", METRICS.names())
def test_the_library_reproduces_the_stage(name: str, request: pytest.FixtureRequest) -> None:
    stage, pairs_of = COMPARISONS[name]
    pairs = pairs_of(request.getfixturevalue(stage))
    assert pairs, f"{name}: nothing compared"
    for lib, recorded, tol in pairs:
        assert lib == pytest.approx(recorded, abs=tol), f"{name}: library {lib} vs stage {recorded}"
