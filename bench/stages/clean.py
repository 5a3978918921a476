"""The ``clean`` stage: clean accuracy on the track's evaluation subset, with a Wilson 95% interval."""

from __future__ import annotations

from typing import Any

import torch

from bench.plugins import STAGES, register_score
from bench.protocols import Stage, StageOutput
from bench.scores.accuracy import wilson_interval
from bench.types import Category, ScoreSpec, ScoreValue, Unit

CLEAN = register_score(
    ScoreSpec(
        name="clean_accuracy",
        title="Clean acc.",
        higher_is_better=True,
        unit=Unit.FRACTION,
        category=Category.ACCURACY,
        order=10,
        description="Top-1 accuracy on the track's evaluation subset, with a Wilson 95% interval.",
    )
)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Argmax predictions in batches."""
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


@STAGES.register("clean")
class CleanStage(Stage):
    """Per-image correctness is kept in the details (paired tests in ``robex compare`` use it)."""

    order = 10

    def run(self, ctx: Any) -> StageOutput:
        """Accuracy of the entry's model on the first ``n`` evaluation images."""
        model = ctx.model()
        x, y = ctx.eval_batch()
        correct = (predict(model, x) == y).cpu()
        k, n = int(correct.sum()), len(correct)
        lo, hi = wilson_interval(k, n)
        return StageOutput(
            scores=(ScoreValue(CLEAN.name, k / n, n, lo, hi),),
            details={"correct": correct.int().tolist()},
        )
