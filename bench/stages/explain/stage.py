"""The ``explain`` stage: its scores and the cell that computes them for every explainer of the track."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bench.explainers.base import ranking, relevance
from bench.explainers.functional import class_activation_maps
from bench.plugins import STAGES, register_score
from bench.protocols import Explainer, Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.scores import explanation_robustness as er
from bench.scores import fidelity
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

DELETION = register_score(builtin_spec("deletion_auc"))


INSERTION = register_score(builtin_spec("insertion_auc"))


FAITHFULNESS = register_score(builtin_spec("faithfulness_correlation"))


SENSITIVITY = register_score(builtin_spec("max_sensitivity"))


KENDALL = register_score(builtin_spec("explanation_topk_kendall_tau"))


DISCREPANCY = register_score(builtin_spec("explanation_discrepancy_ratio"))


@STAGES.register("explain")
class ExplainStage(Stage):
    """Fidelity and robustness of the track's explainers on the entry's model (see the module docstring)."""

    order = 60
    version = "2"  # 2: per-image τ in the record; the CAM discrepancy divided by its margin bound

    def settings(self, track: Any, quick: bool) -> dict[str, Any]:
        """The track's ``[stages.explain]`` table plus the explainer list and ε (they change the numbers)."""
        s = super().settings(track, quick)
        s.setdefault("explainers", list(track.explainers))
        s["eps"] = track.threat.eps
        return s

    def run(self, ctx: Any) -> StageOutput:
        """Compute every explanation score of the entry (see the module docstring)."""
        s = ctx.settings
        names = list(s["explainers"])
        if not names:
            raise ValueError(f"track {ctx.track.name!r} lists no explainers")
        primary = str(s.get("primary", names[0]))
        if primary not in names:
            raise ValueError(f"[stages.explain] primary = {primary!r} is not among the explainers {names}")
        explainers = build_explainers(names, s.get("options", {}))
        model = ctx.model()
        for p in model.parameters():
            p.requires_grad_(False)
        model.eval()
        x, y = ctx.eval_batch()
        bs = int(s.get("batch_size", 500))
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + bs]).argmax(1) for i in range(0, len(x), bs)])
        maps = {n: explain_in_batches(e, model, x, pred, ctx.generator("map", n), bs) for n, e in explainers.items()}
        ctx.progress(1, 5)

        # fidelity: RISE and Bhatt et al.
        step = int(s.get("step", x.shape[-1]))
        kernel = fidelity.rise_kernel(int(s.get("blur_size", 11)), float(s.get("blur_sigma", 5.0)))
        features = x.shape[-1] * x.shape[-2]
        masks = fidelity.random_subsets(
            len(x),
            features,
            int(s.get("faithfulness_runs", 100)),
            int(s.get("faithfulness_subset", x.shape[-1])),
            ctx.generator("faithfulness"),
        )
        drops = fidelity.subset_logit_drops(model, x, pred, masks, batch_size=bs * 2)
        per: dict[str, dict[str, Tensor]] = {}
        curves: dict[str, Any] = {}
        for name, m in maps.items():
            rel = relevance(m, ranking(explainers[name]))
            deletion, insertion, _ = fidelity.causal_curves(model, x, rel, step=step, kernel=kernel, batch_size=bs * 2)
            per[name] = {
                "deletion": fidelity.auc(deletion),
                "insertion": fidelity.auc(insertion),
                "faithfulness": fidelity.faithfulness_correlation(m, masks, drops),
            }
            if name in (primary, *s.get("curves", ["gradcam"])):
                curves[f"deletion_{name}"] = mean_curve(f"Deletion curve ({name})", deletion, "p(predicted class)")
                curves[f"insertion_{name}"] = mean_curve(f"Insertion curve ({name})", insertion, "p(predicted class)")
        ctx.progress(2, 5)

        # max-sensitivity
        ns = int(s.get("sensitivity_n", 100))
        xs, ps = x[:ns], pred[:ns]
        sensitive = list(s.get("sensitivity_explainers", names))
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
                radius=float(s.get("sensitivity_radius", 0.02)),
                samples=int(s.get("sensitivity_samples", 10)),
                generator=gen,
                batch_size=bs * 2,
                expl=maps[name][:ns],
            )
        ctx.progress(3, 5)

        table = []
        for name in names:
            row: dict[str, Any] = {"explainer": name}
            for key in ("deletion", "insertion", "faithfulness", "sensitivity"):
                values = per[name].get(key)
                row[key] = None if values is None else json_float(mean_interval(values)[0])
            table.append(row)
        results = [
            score(DELETION.name, per[primary]["deletion"]),
            score(INSERTION.name, per[primary]["insertion"]),
            score(FAITHFULNESS.name, per[primary]["faithfulness"]),
        ]
        if "sensitivity" in per[primary]:
            results.append(score(SENSITIVITY.name, per[primary]["sensitivity"]))
        details: dict[str, Any] = {
            "primary": primary,
            "explained_class": "predicted",
            "images": len(x),
            "sensitivity_images": len(xs),
            "step": step,
            "table": table,
            "curves": curves,
        }

        # Boopathy et al. (needs a CAM)
        nb = int(s.get("robustness_n", 200))
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

        ng = int(s.get("gallery", 6))
        details["gallery"] = gallery(
            model,
            x[:ng],
            pred[:ng],
            {n: m[:ng] for n, m in maps.items()},
            explainers,
            ctx.track.class_names,
            s.get("woods", {}),
        )
        ctx.progress(5, 5)
        return StageOutput(scores=tuple(r for r in results if r is not None), details=details)
