"""The transfer stage's ``summarize`` on hand-built pair outputs: row/column, mean and worst over the other
sources, the surrogate, the budget curves and the attacks within the track's ε; plus the matrix helpers."""

from __future__ import annotations

import numpy as np
import pytest

from bench.protocols import StageOutput
from bench.results.intervals import image_bootstrap
from bench.scores.ara import budget_area
from bench.scores.transfer import column, summarize_row, transfer_matrix, update_matrix
from bench.stages.transfer import CraftStage, TransferStage, craft_plan, headline_label
from bench.track import Track

N = 4
LABELS = ("fgsm@0.1", "fgsm@0.3", "fgsm@0.5", "pgd@0.3")
# accuracy of target on examples from source, per label; 1/N steps so every value is a robust-list mean
ACC = {
    ("a", "a"): (0.5, 0.25, 0.0, 0.0),
    ("a", "b"): (1.0, 0.75, 0.5, 0.5),
    ("a", "standard"): (0.75, 0.5, 0.25, 0.25),
    ("b", "a"): (0.75, 0.5, 0.5, 0.75),
    ("b", "b"): (0.75, 0.25, 0.0, 0.25),
    ("b", "standard"): (0.75, 0.75, 0.5, 0.5),
    ("standard", "a"): (0.5, 0.25, 0.25, 0.25),
    ("standard", "b"): (1.0, 0.5, 0.5, 0.5),
    ("standard", "standard"): (0.25, 0.0, 0.0, 0.0),
}
CLEAN = {"a": 1.0, "b": 1.0, "standard": 0.75}


def robust(acc: float) -> list[int]:
    k = round(acc * N)
    return [1] * k + [0] * (N - k)


def outputs() -> dict[tuple[str, str], StageOutput]:
    return {
        pair: StageOutput(
            details={
                "n": N,
                "clean_accuracy": CLEAN[pair[1]],
                "accuracy": dict(zip(LABELS, accs, strict=True)),
                "robust": {lb: robust(a) for lb, a in zip(LABELS, accs, strict=True)},
                "headline": "pgd@0.3",
                "surrogates": ["standard"],
                "num_classes": 10,
                "track_eps": 0.3,
            }
        )
        for pair, accs in ACC.items()
    }


def test_summarize_target_a() -> None:
    out = TransferStage().summarize("a", outputs())
    scores = {s.name: s for s in out.scores}
    t = out.details
    assert t["as_target"] == {"a": 0.0, "b": 0.75, "standard": 0.25}
    assert t["as_source"] == {"a": 0.0, "b": 0.5, "standard": 0.25}
    assert scores["transfer_accuracy_mean"].value == pytest.approx((0.75 + 0.25) / 2)
    # per image, the share of the other sources (b: [1, 1, 1, 0], standard: [1, 0, 0, 0]) it resists; its mean is
    # the score, and the score's interval is a bootstrap of it over the images
    assert t["mean_robust"] == [1.0, 0.5, 0.5, 0.0]
    mean = scores["transfer_accuracy_mean"]
    assert mean.ci_low is not None and mean.ci_high is not None
    assert (mean.ci_low, mean.ci_high) == image_bootstrap(np.mean, [t["mean_robust"]])
    assert 0.0 <= mean.ci_low < 0.5 < mean.ci_high <= 1.0
    assert scores["transfer_accuracy_worst"].value == 0.25 and t["worst_source"] == "standard"
    assert scores["transfer_accuracy_worst"].ci_low is not None  # a Wilson interval on the worst source
    assert scores["transfer_accuracy_surrogate"].value == 0.25 and t["surrogate"] == "standard"
    assert t["white_box"] == 0.0 and t["self_robust"] == [0, 0, 0, 0] and t["worst_robust"] == [1, 0, 0, 0]
    assert (t["attack"], t["eps"], t["n"]) == ("pgd", 0.3, N)
    grid = t["grid"]["fgsm@0.3"]
    assert (grid["white_box"], grid["surrogate"], grid["mean"], grid["worst"]) == (0.25, 0.25, 0.375, 0.25)
    wb = t["curves"]["fgsm_white_box"]
    assert wb["x"] == [0.0, 0.1, 0.3, 0.5] and wb["y"] == [1.0, 0.5, 0.25, 0.0]
    assert t["curves"]["fgsm_transfer_mean"]["y"] == [1.0, 0.625, 0.375, 0.375]
    areas = {row["curve"]: row["area_above_chance"] for row in t["table"]}
    assert areas["FGSM white-box (crafted on this model)"] == pytest.approx(budget_area(wb["x"], wb["y"], 10))
    # attacks within the budget (ε ≤ 0.3), per image over every source; fgsm@0.5 is outside
    assert t["attacks_at_eps"] == {
        "fgsm@0.1 from every source (3)": {
            "accuracy": 0.5,
            "n": N,
            "robust": [1, 1, 0, 0],
            "worst_source": "a",
            "worst_source_accuracy": 0.5,
        },
        "fgsm@0.3 from every source (3)": {
            "accuracy": 0.25,
            "n": N,
            "robust": [1, 0, 0, 0],
            "worst_source": "a",
            "worst_source_accuracy": 0.25,
        },
        "pgd@0.3 from every source (3)": {
            "accuracy": 0.0,
            "n": N,
            "robust": [0, 0, 0, 0],
            "worst_source": "a",
            "worst_source_accuracy": 0.0,
        },
    }


def test_attacks_within_budget_take_the_per_image_worst_case_over_sources() -> None:
    """Sources that break different images: the per-image conjunction is below every single source's accuracy."""
    outs = outputs()
    d = dict(outs[("standard", "a")].details)
    d["robust"] = {**d["robust"], "fgsm@0.1": [0, 0, 1, 1]}  # 0.5, like (a, a)'s [1, 1, 0, 0], other images
    outs[("standard", "a")] = StageOutput(details=d)
    item = TransferStage().summarize("a", outs).details["attacks_at_eps"]["fgsm@0.1 from every source (3)"]
    assert item["worst_source_accuracy"] == 0.5 and item["robust"] == [0, 0, 0, 0] and item["accuracy"] == 0.0


def test_surrogate_has_no_surrogate_score_and_lonely_entry_no_transfer() -> None:
    out = TransferStage().summarize("standard", outputs())
    names = {s.name for s in out.scores}
    assert names == {"transfer_accuracy_mean", "transfer_accuracy_worst"}
    only = {("a", "a"): outputs()[("a", "a")]}
    lonely = TransferStage().summarize("a", only)
    assert lonely.scores == () and lonely.details["white_box"] == 0.0
    assert TransferStage().summarize("zzz", outputs()) == StageOutput()


def test_matrix_helpers() -> None:
    pairs = {pair: accs[-1] for pair, accs in ACC.items()}
    matrix = transfer_matrix(pairs)
    assert column(matrix, "a") == {"a": 0.0, "b": 0.75, "standard": 0.25}
    first = {p: v for p, v in pairs.items() if "b" not in p}
    added = {p: v for p, v in pairs.items() if "b" in p}
    assert len(added) == 2 * 3 - 1
    assert update_matrix(transfer_matrix(first), added) == matrix
    assert summarize_row(column(matrix, "b"), "b").worst_source == "a"  # tie at 0.5: alphabetical


def test_craft_plan(track: Track) -> None:
    settings = CraftStage().settings(track, quick=False)
    plan = craft_plan(track, {**settings, "eps_grid": [0.1, "1/5"]})
    labels = [p[0] for p in plan]
    assert labels == ["fgsm@0.1", "fgsm@0.2", "tgsm@0.1", "tgsm@0.2", headline_label(track)]
    assert plan[-1][2] == track.threat and plan[-1][3]["steps"] == settings["pgd_steps"]
    assert plan[1][2].eps == pytest.approx(0.2)
    with pytest.raises(ValueError, match="budget"):
        craft_plan(track, {**settings, "eps_grid": [0.0]})
