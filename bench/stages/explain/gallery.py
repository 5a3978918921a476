"""The explain stage's galleries: each explainer's maps and Woods et al.'s adversarial explanations."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from bench.explainers.base import Ranking, ranking
from bench.explainers.functional import woods_explanation
from bench.explainers.images import input_row, map_row
from bench.protocols import Explainer, evaluation_mode


def gallery(
    model: nn.Module,
    x: Tensor,
    pred: Tensor,
    maps: Mapping[str, Tensor],
    explainers: Mapping[str, Explainer],
    class_names: tuple[str, ...],
    woods: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Rows: the inputs, every explainer's map, and Woods et al.'s adversarial explanations."""
    labels = [f"#{i} pred {class_names[int(c)]}" for i, c in enumerate(pred)]
    rows = [input_row("Evaluation images (first of the subset; same for every entry)", x, labels)]
    for name, m in maps.items():
        how = ranking(explainers[name])
        heat = m.sum(1) if how is Ranking.SIGNED else m.abs().sum(1)
        rows.append(map_row(f"{name} (predicted class)", heat, labels, signed=how is Ranking.SIGNED))
    with torch.no_grad():
        logits = model(x)
    runner_up = logits.scatter(1, pred.view(-1, 1), -math.inf).argmax(1)
    rho, overshoot, steps = float(woods["rho"]), float(woods["overshoot"]), int(woods["steps"])
    for caption, target in (("toward the predicted class", pred), ("toward the runner-up class", runner_up)):
        with evaluation_mode(model):
            adv = woods_explanation(model, x, target, rho=rho, overshoot=overshoot, steps=steps)
        tl = [f"#{i} → {class_names[int(c)]}" for i, c in enumerate(target)]
        rows.append(input_row(f"Woods et al. adversarial explanation x+δ {caption} (RMSE ≤ {rho:g})", adv, tl))
    return rows
