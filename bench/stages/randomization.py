"""The ``randomization`` stage: Adebayo et al.'s model-randomisation sanity check of every explainer of the track
(Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, NeurIPS 2018, https://arxiv.org/abs/1810.03292;
:mod:`bench.scores.randomization`).

On the first ``n`` evaluation images, each explainer explains the trained model's **predicted** class on the trained
model and on a copy whose layers are re-initialised one at a time from the top (the logits) down to the first
(cascading randomisation; seeded), with the same explainer randomness for both. Per image: the Spearman rank
correlation of the absolute maps and their SSIM. The similarity once **every** layer is random is the check's
value — low means the maps depend on what the model learned (the check passes); with ``cascade`` the similarity
after each layer is recorded too (the paper's figure), otherwise only the fully randomised model is explained.

An explainer whose mean rank correlation after full randomisation exceeds ``threshold`` gets an informational flag
(``explainer_ignores_weights``); the scores are the ``primary`` explainer's (every explainer is in the table, with
per-image values under ``per_image``). ``None`` settings come from the track's ``[stages.explain]`` table: the
explainers it scores, its primary, its per-explainer options — so the check is of the very maps the explanation
scores are computed from.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bench.plugins import STAGES, register_score
from bench.protocols import Explainer, Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.running.flags import Check, make_flag
from bench.scores.randomization import parametrised_layers, randomize_layer, rank_similarity, ssim
from bench.stage_settings import StageSettings, settings_dataclass
from bench.stages.explain.measures import build_explainers, explain_in_batches, mean_interval
from bench.track import Track
from bench.types import Flag, ScoreValue

log = logging.getLogger(__name__)

SPEARMAN = register_score(builtin_spec("randomization_spearman"))


SSIM = register_score(builtin_spec("randomization_ssim"))


@settings_dataclass(frozen=True)
class RandomizationSettings(StageSettings):
    """``[stages.randomization]``. ``None`` defaults come from the track's ``[stages.explain]`` table (its
    ``explainers``, else the track's list; its ``primary``, else the first explainer; its ``options``)."""

    n: int = 100
    explainers: list[str] | None = None
    primary: str | None = None
    options: dict[str, dict[str, Any]] | None = None
    batch_size: int = 500
    cascade: bool = True
    threshold: float = 0.5

    def resolve(self, track: Track, quick: bool) -> RandomizationSettings:
        """The explain stage's explainers, primary (when among the explainers) and options unless given."""
        explain = track.stage_settings("explain", quick=quick)
        names = list(self.explainers if self.explainers is not None else explain.get("explainers", track.explainers))
        primary = self.primary
        if primary is None:
            primary = explain.get("primary") if explain.get("primary") in names else (names[0] if names else None)
        options = self.options
        if options is None:  # the explain stage's options of the explainers checked here
            options = {k: v for k, v in dict(explain.get("options", {})).items() if k in names}
        return dataclasses.replace(self, explainers=names, primary=primary, options=dict(options))


def similarities(maps: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """Per explainer, (Spearman ρ of |maps|, SSIM) per image against the trained model's maps."""
    return {n: (rank_similarity(reference[n], m), ssim(reference[n], m)) for n, m in maps.items()}


def rounded(values: Tensor) -> list[float]:
    """Per-image values for the record (6 decimals)."""
    return [round(float(v), 6) for v in values]


def mean_score(name: str, values: list[float]) -> ScoreValue:
    """The mean of the recorded per-image values (so the record's list averages to the score exactly)."""
    arr = np.asarray(values, dtype=np.float64)
    _, lo, hi, n = mean_interval(torch.from_numpy(arr))
    return ScoreValue(name, float(arr.mean()), n, lo, hi)


@STAGES.register("randomization")
class RandomizationStage(Stage):
    """Explanations of the trained model against a weight-randomised copy (see the module docstring)."""

    summary = "Adebayo et al.'s sanity check: each explainer's maps of the trained vs a weight-randomised model"

    order = 65
    version = "1"

    Settings = RandomizationSettings

    def run(self, ctx: Any) -> StageOutput:
        """Cascading randomisation of a copy of the entry's model; similarities of every explainer's maps."""
        s = ctx.settings
        names, primary, bs = list(s["explainers"]), str(s["primary"]), int(s["batch_size"])
        if primary not in names:
            raise ValueError(f"[stages.randomization] primary = {primary!r} is not among the explainers {names}")
        explainers = build_explainers(names, s["options"])
        model = ctx.model().eval()
        x, _ = ctx.eval_batch()
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + bs]).argmax(1) for i in range(0, len(x), bs)])

        def explain_all(m: nn.Module, only: Mapping[str, Explainer]) -> dict[str, Tensor]:
            return {n: explain_in_batches(e, m, x, pred, ctx.generator("map", n), bs) for n, e in only.items()}

        usable, skipped = self._usable(explainers, model, x[:1], pred[:1])
        reference = explain_all(model, usable)
        randomized = ctx.model().eval()
        layers = list(reversed(parametrised_layers(randomized, x[:1])))
        if not layers:
            raise ValueError(f"{type(randomized).__name__} has no layer with parameters to randomise")
        generator = ctx.generator("weights")
        steps: list[dict[str, tuple[Tensor, Tensor]]] = []
        for i, (_, layer) in enumerate(layers):
            randomize_layer(layer, generator)
            if s["cascade"] or i == len(layers) - 1:
                steps.append(similarities(explain_all(randomized, usable), reference))
            ctx.progress(i + 1, len(layers))
        names_top_down = [name or type(layer).__name__ for name, layer in layers]
        final = steps[-1]
        details = self._details(s, final, steps, names_top_down, len(x), skipped)
        scores: tuple[ScoreValue, ...] = ()
        if primary in final:
            details["spearman"] = rounded(final[primary][0])
            details["ssim"] = rounded(final[primary][1])
            scores = (mean_score(SPEARMAN.name, details["spearman"]), mean_score(SSIM.name, details["ssim"]))
        return StageOutput(scores=scores, details=details, flags=self._flags(final, float(s["threshold"])))

    @staticmethod
    def _usable(
        explainers: Mapping[str, Explainer], model: nn.Module, x: Tensor, target: Tensor
    ) -> tuple[dict[str, Explainer], dict[str, str]]:
        """The explainers that apply to the model (CAM needs a CAM head) and why the others were skipped."""
        usable, skipped = {}, {}
        for name, e in explainers.items():
            try:
                e.attribute(model, x, target)
            except TypeError as exc:
                skipped[name] = str(exc)
                log.info("randomization: %s skipped: %s", name, exc)
                continue
            usable[name] = e
        return usable, skipped

    @staticmethod
    def _flags(final: Mapping[str, tuple[Tensor, Tensor]], threshold: float) -> tuple[Flag, ...]:
        high = {n: float(rho.double().mean()) for n, (rho, _) in final.items()}
        high = {n: v for n, v in high.items() if v > threshold}
        if not high:
            return ()
        detail = ", ".join(f"{n} ρ = {v:.2f}" for n, v in sorted(high.items())) + f"; threshold {threshold:g}"
        return (make_flag(Check.IGNORES_WEIGHTS, high, detail=detail),)

    @staticmethod
    def _details(
        s: Mapping[str, Any],
        final: Mapping[str, tuple[Tensor, Tensor]],
        steps: list[dict[str, tuple[Tensor, Tensor]]],
        layers: list[str],
        n: int,
        skipped: Mapping[str, str],
    ) -> dict[str, Any]:
        threshold, primary = float(s["threshold"]), str(s["primary"])
        table = []
        for name, (rho, sim) in final.items():
            row: dict[str, Any] = {
                "explainer": name,
                "spearman": round(float(rho.double().mean()), 6),
                "ssim": round(float(sim.double().mean()), 6),
                "passes": "no" if float(rho.double().mean()) > threshold else "yes",
            }
            if s["cascade"]:
                for layer, step in zip(layers, steps, strict=True):
                    row[f"spearman after {layer}"] = round(float(step[name][0].double().mean()), 6)
            table.append(row)
        details: dict[str, Any] = {
            "images": n,
            "explained_class": "predicted",
            "primary": primary,
            "threshold": threshold,
            "layers_top_down": layers,
            "cascade": bool(s["cascade"]),
            "randomization": "cascading from the top layer; each layer's reset_parameters under a seeded RNG",
            "table": table,
            "per_image": {name: {"spearman": rounded(r), "ssim": rounded(m)} for name, (r, m) in final.items()},
        }
        if s["cascade"] and primary in final:
            details["curves"] = {
                f"cascade_{primary}": {
                    "title": f"Cascading randomisation ({primary}): rank correlation with the trained model's maps",
                    "x": list(range(1, len(layers) + 1)),
                    "y": [round(float(step[primary][0].double().mean()), 6) for step in steps],
                    "xlabel": "layers randomised, from the top",
                    "ylabel": "Spearman ρ of |maps|",
                }
            }
        if skipped:
            details["skipped"] = dict(skipped)
        return details
