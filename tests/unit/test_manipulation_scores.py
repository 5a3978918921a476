"""Manipulation scores: the accuracy cost is charged against the λ = 0 control, and its direction is stated."""

from __future__ import annotations

import pytest

from bench.plugins import SCORES
from bench.scores.manipulation import FSR_INTERVALS, FoolingLoss, accuracy_cost


def test_manipulation_cost_is_against_the_control_and_its_direction_is_stated() -> None:
    # original 0.98, the λ = 0 control drifts to 0.95, the fooled model 0.94: the fooling cost 1 point, not 4
    assert accuracy_cost(0.95, 0.94) == pytest.approx(0.01)
    # a model that collapses under any fine-tuning (control 0.60, fooled 0.59) no longer looks costly to fool
    assert accuracy_cost(0.60, 0.59) == pytest.approx(0.01)
    spec = SCORES.get("manipulation_accuracy_cost")
    assert spec.higher_is_better and not spec.primary
    assert "control − fooled" in spec.description and "Higher is better" in spec.description
    assert "manipulation_accuracy_drop" not in SCORES.names()


@pytest.mark.parametrize("loss", [lo for lo in FoolingLoss if lo is not FoolingLoss.ACTIVE])
def test_fsr_intervals_are_stated_as_robex_constants_not_the_papers(loss: FoolingLoss) -> None:
    interval = FSR_INTERVALS[loss]
    for interp in ("gradcam", "saliency"):
        text = SCORES.get(f"manipulation_fsr_{interp}_{loss.value}").description
        assert f"[{interval.low:g}, {interval.high:g}]" in text
        assert "robex's success interval" in text and "unverified" not in text
