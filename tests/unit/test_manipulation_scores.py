"""Manipulation scores: the accuracy cost against the better of the original and the λ = 0 control, its direction
stated; the graded headline (the fooling curve's run average) against the saturated final rate on synthetic curves
with hand-computed values; the checkpoints and the per-image curve of a run."""

from __future__ import annotations

from typing import ClassVar, cast

import pytest
import torch
from torch import Tensor, nn

from bench.plugins import SCORES
from bench.scores.manipulation import FSR_INTERVALS, FoolingLoss, Interval, accuracy_cost, run_average, steps_to_rate
from bench.stages.manipulate.curve import FoolingCurve, checked_checkpoints, default_checkpoints
from bench.stages.manipulate.objectives import Heldout, Interpreter, Objective


def test_manipulation_cost_is_against_the_better_of_original_and_control() -> None:
    # the committed mnist5k standard: original 0.982, the λ = 0 control drifted to 0.950, the fooled model kept
    # 0.982 — against the control the "cost" was −3.2 points; against the better of the two it is 0
    assert accuracy_cost(0.982, 0.950, 0.982) == pytest.approx(0.0)
    # original 0.98, control 0.95, fooled 0.94: the fooled model lost 4 points against the original
    assert accuracy_cost(0.98, 0.95, 0.94) == pytest.approx(0.04)
    # an under-trained model the fine-tuning improves (0.92 → 0.95 for the control): the fooling held it at 0.93
    assert accuracy_cost(0.92, 0.95, 0.93) == pytest.approx(0.02)
    spec = SCORES.get("manipulation_accuracy_cost")
    assert spec.higher_is_better and not spec.primary
    assert "max(original, control) − fooled" in spec.description and "Higher is better" in spec.description
    assert "manipulation_accuracy_drop" not in SCORES.names()


# ------------------------------------------------------------------------------------------ graded headline
STEPS = [0, 2, 4, 6, 8, 10, 15, 20, 30, 40, 60, 80]


def fooled_at(t: float) -> list[float]:
    """A run that fools every image from step ``t`` on (FSR 0 before, 1 from the first checkpoint ≥ t)."""
    return [1.0 if s >= t else 0.0 for s in STEPS]


def test_a_saturated_rate_ties_what_the_run_average_separates() -> None:
    """Two synthetic runs both end at FSR 100%, so the final rate ties them; the run average does not.

    Fooled at step 10: the trapezoid area is ½·(10 − 8) for the ramp 8 → 10 plus 70 for 10 → 80, so the average
    is 71/80 = 0.8875. Fooled at step 40: ½·(40 − 30) + 40 = 45, average 45/80 = 0.5625. Steps to 50%: the ramps'
    midpoints, 9 and 35.
    """
    fast, slow = fooled_at(10), fooled_at(40)
    assert fast[-1] == slow[-1] == 1.0  # the saturated headline: 100% for both
    avg_fast = float(run_average(STEPS, torch.tensor(fast)))
    avg_slow = float(run_average(STEPS, torch.tensor(slow)))
    assert avg_fast == pytest.approx(71 / 80) and avg_slow == pytest.approx(45 / 80)
    assert steps_to_rate(STEPS, fast) == pytest.approx(9.0) and steps_to_rate(STEPS, slow) == pytest.approx(35.0)
    never = [0.0] * 11 + [0.4]
    assert float(run_average(STEPS, torch.tensor(never))) == pytest.approx(0.5 * 0.4 * 20 / 80)
    assert steps_to_rate(STEPS, never) is None  # censored at the budget


def test_the_run_average_is_the_mean_of_the_images_fooled_shares() -> None:
    """Three images fooled from steps 4, 20 and never: the FSR curve's average equals the mean per-image share."""
    per = torch.tensor([fooled_at(4), fooled_at(20), [0.0] * len(STEPS)])
    shares = run_average(STEPS, per)
    # fooled from 4: ramp 2 → 4 (area 1) + 76; from 20: ramp 15 → 20 (2.5) + 60
    assert shares.tolist() == pytest.approx([(1 + 76) / 80, (2.5 + 60) / 80, 0.0])
    assert float(run_average(STEPS, per.mean(0))) == pytest.approx(float(shares.mean()))


def test_bad_checkpoints_are_refused() -> None:
    with pytest.raises(ValueError, match="increasing steps from 0"):
        run_average([1, 2], torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="increasing steps from 0"):
        run_average([0, 2, 2], torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="from 0 to steps"):
        checked_checkpoints([0, 10, 60], 80)
    assert checked_checkpoints([80, 0, 10, 10], 80) == [0, 10, 80]
    assert default_checkpoints(80) == STEPS and default_checkpoints(600)[:3] == [0, 15, 30]


class TableObjective:
    """An objective whose held-out "maps" are the model's output and whose per-image score is that output."""

    kind = "passive"

    def heldout_maps(self, model: nn.Module, interp: object, data: object) -> Tensor:
        return model(torch.zeros(3))

    def heldout_scores(self, h: Tensor, h_original: Tensor) -> Tensor:
        return h


class ScoresAtStep(nn.Module):
    """Per-image scores looked up by the current step (set by the test)."""

    TABLE: ClassVar[dict[int, list[float]]] = {
        0: [0.1, 0.9, 0.9],
        5: [0.1, 0.1, 0.9],
        10: [0.5, 0.1, 0.9],
        20: [0.5, 0.1, 0.9],
        40: [0.1, 0.1, 0.9],
    }

    def __init__(self) -> None:
        super().__init__()
        self.step = 0

    def forward(self, x: Tensor) -> Tensor:
        return torch.tensor(self.TABLE[self.step])


def table_curve(steps: list[int]) -> FoolingCurve:
    """A curve over :class:`TableObjective` (no interpreter or held-out data needed: the model gives the scores)."""
    objective = cast(Objective, TableObjective())
    return FoolingCurve(
        cast(Interpreter, None), objective, Interval(0.0, 0.2), cast(Heldout, None), torch.zeros(3), steps
    )


def test_the_curve_records_every_checkpoint_per_image() -> None:
    """Scores in [0, 0.2] count as fooled. Image 0 is fooled at steps 0, 5, 40: trapezoid area 5 + 2.5 + 10 = 17.5
    of 40 → 0.4375; image 1 from step 5 on: 2.5 + 5 + 10 + 20 = 37.5 → 0.9375; image 2 never → 0. FSR per
    checkpoint 1/3, 2/3, 1/3, 1/3, 2/3: it first reaches 50% halfway between steps 0 and 5, at 2.5."""
    model = ScoresAtStep()
    steps = sorted(ScoresAtStep.TABLE)
    curve = table_curve(steps)
    for t in steps:
        model.step = t
        curve(t, model)
    assert curve.per_image().tolist() == pytest.approx([0.4375, 0.9375, 0.0])
    d = curve.details("gradcam:location")
    assert d["steps"] == steps and d["fsr"] == pytest.approx([1 / 3, 2 / 3, 1 / 3, 1 / 3, 2 / 3], abs=1e-6)
    assert d["run_average"] == pytest.approx(1.375 / 3, abs=1e-6) and d["images"] == 3
    assert d["steps_to_half"] == pytest.approx(2.5)
    incomplete = table_curve([0, 5, 80])
    incomplete(0, model)
    with pytest.raises(RuntimeError, match="observed steps"):
        incomplete.per_image()


@pytest.mark.parametrize("loss", [lo for lo in FoolingLoss if lo is not FoolingLoss.ACTIVE])
def test_fsr_intervals_are_stated_as_robex_constants_not_the_papers(loss: FoolingLoss) -> None:
    interval = FSR_INTERVALS[loss]
    for interp in ("gradcam", "saliency"):
        text = SCORES.get(f"manipulation_fsr_{interp}_{loss.value}").description
        assert f"[{interval.low:g}, {interval.high:g}]" in text
        assert "robex's success interval" in text and "unverified" not in text
