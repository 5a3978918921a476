"""The ``clean`` stage: clean accuracy on the track's evaluation subset, with a Wilson 95% interval, plus
two checks that keep a broken or cheating model out of the ranking whatever other stages run:

* **non-finite outputs** on any evaluated image → a ``fail`` flag (``nonfinite_outputs``);
* **memorisation**: accuracy on ``holdout_n`` images drawn at scoring time from the track's held-out pool
  (disjoint from the published subset; :class:`~bench.data.TrackData`) with a seed from the operating
  system's randomness (:func:`secrets.randbits`), recorded in ``details["holdout"]`` with the drawn
  indices' sha256 so the draw can be repeated, must not fall below the published accuracy by more than
  ``holdout_tolerance`` (Newcombe interval rule, :func:`bench.scores.holdout.compare_holdout`), else a
  ``fail`` flag (``holdout_disagrees``). With no held-out images (e.g. CIFAR-10's 1,000-image offline
  subset) a ``warn`` flag says the check could not run.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

import torch

from bench.data import indices_sha256
from bench.plugins import STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.results.catalogue import builtin_spec
from bench.results.intervals import wilson_interval
from bench.running.checks import holdout_disagrees, nonfinite_outputs
from bench.running.flags import Check, make_flag
from bench.scores.holdout import compare_holdout
from bench.stage_settings import StageSettings, settings_dataclass
from bench.track import Track
from bench.types import Flag, ScoreValue

CLEAN = register_score(builtin_spec("clean_accuracy"))


@torch.no_grad()
def logits_of(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's outputs in batches."""
    return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Argmax predictions in batches."""
    return logits_of(model, x, batch_size).argmax(1)


@settings_dataclass(frozen=True)
class CleanSettings(StageSettings):
    """``[stages.clean]``: ``holdout_n`` defaults to ``n`` (the whole subset), the tolerance to 5 points."""

    n: int | None = None
    holdout_n: int | None = None
    holdout_tolerance: float = 0.05
    holdout_confidence: float = 0.95

    def resolve(self, track: Track, quick: bool) -> CleanSettings:
        """``holdout_n``: ``n``, else the evaluation subset's size."""
        if self.holdout_n is not None:
            return self
        return dataclasses.replace(self, holdout_n=self.n if self.n is not None else track.eval_subset.count)


@STAGES.register("clean")
class CleanStage(Stage):
    """Per-image correctness is kept in the details (paired tests in ``robex compare`` use it)."""

    summary = "clean accuracy with its interval, and the held-out memorisation check"

    order = 10
    version = "2"  # 2: non-finite and memorisation (held-out) checks

    Settings = CleanSettings

    def run(self, ctx: Any) -> StageOutput:
        """Accuracy of the entry's model on the first ``n`` evaluation images, and the two checks."""
        s = ctx.settings
        model = ctx.model()
        x, y = ctx.eval_batch()
        logits = logits_of(model, x)
        correct = (logits.argmax(1) == y).cpu()
        k, n = int(correct.sum()), len(correct)
        lo, hi = wilson_interval(k, n)
        flags: list[Flag] = []
        details: dict[str, Any] = {"correct": correct.int().tolist()}
        seed = secrets.randbits(63)
        hx, hy, hidx = ctx.data.holdout_batch(int(s["holdout_n"]), seed)
        if len(hy) == 0:
            flags.append(make_flag(Check.HOLDOUT_UNAVAILABLE, {}))
            details["holdout"] = {"n": 0}
        else:
            hlogits = logits_of(model, hx.to(ctx.device))
            hk = int((hlogits.argmax(1) == hy.to(ctx.device)).sum())
            logits = torch.cat([logits, hlogits])
            c = compare_holdout(
                k, n, hk, len(hy), tolerance=float(s["holdout_tolerance"]), confidence=float(s["holdout_confidence"])
            )
            flag = holdout_disagrees(c)
            flags += [flag] if flag is not None else []
            details["holdout"] = {
                "seed": seed,
                "n": len(hy),
                "indices_sha256": indices_sha256(hidx),
                "accuracy": c.holdout_accuracy,
                "published_accuracy": c.published_accuracy,
                "difference_ci": [c.ci_low, c.ci_high],
                "tolerance": c.tolerance,
                "confidence": c.confidence,
                "passed": flag is None,
            }
        bad = nonfinite_outputs(logits)
        flags += [bad] if bad is not None else []
        return StageOutput(
            scores=(ScoreValue(CLEAN.name, k / n, n, lo, hi),),
            details=details,
            flags=tuple(flags),
        )
