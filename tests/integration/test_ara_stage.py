"""The ``ara`` stage through the runner (quick settings) on a trained checkpoint entry: the scores are the
exact ARA of the recorded radii, misclassified (resp. not-better-than-random) images have radius 0 and only
those, and the stored curve is A(ε) of those radii."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.data import TrackData
from bench.frontends.api import run_track
from bench.results.records import Record
from bench.scores.ara import accuracy_curve, ara_exact, ara_histogram
from bench.stages.ara import ara_interval
from tests.checkpoint_entries import write_checkpoint_entry

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def record(standard_model: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Record:
    folder = write_checkpoint_entry(tmp_path_factory.mktemp("entries"), "std_ckpt", standard_model)
    report = run_track(
        "mnist5k",
        entries=["std_ckpt"],
        extra_entries=[folder],
        store=tmp_path_factory.mktemp("store"),
        results_root=tmp_path_factory.mktemp("results"),
        quick=True,
        device="cpu",
        stages=["clean", "ara"],
        executor_options={"show_progress": False},
    )
    assert report.counts[2] == 0, [r.error for r in report.results.values() if not r.ok]
    (rec,) = report.records
    return rec


def test_scores_are_the_exact_ara_of_the_recorded_radii(record: Record) -> None:
    ara = record.details["ara"]
    K = ara["num_classes"]
    for key, score in (("attack", "ara_attack"), ("btr", "ara_btr")):
        radii = ara["radii"][key]
        assert record.score(score) == pytest.approx(ara_exact(radii, K), abs=1e-15)
        s = record.scores[score]
        assert (s.ci_low, s.ci_high) == pytest.approx(ara_interval(radii, K))  # a bootstrap of the radii over images
        assert s.ci_low <= s.value <= s.ci_high  # type: ignore[operator]
        assert record.scores[score].n == len(radii) == record.provenance.images["ara"]
        row = next(r for r in ara["table"] if r["criterion"] == key)
        assert row["ara_woods_1000_bins"] == pytest.approx(ara_histogram(radii, K), abs=1e-9)
        assert (ara["curves"][key]["x"], ara["curves"][key]["y"]) == accuracy_curve(radii, K)
        assert all(r >= 0 and r < float("inf") for r in radii)


def test_radius_zero_exactly_where_the_property_fails_at_x(
    record: Record, standard_model: nn.Module, data: TrackData
) -> None:
    radii = record.details["ara"]["radii"]
    n = len(radii["attack"])
    correct = record.details["clean"]["correct"][:n]
    assert [r > 0 for r in radii["attack"]] == [bool(c) for c in correct]
    x, y = data.eval_batch(n)
    with torch.no_grad():
        p_true = standard_model(x).softmax(1).gather(1, y[:, None]).squeeze(1)
    assert [r > 0 for r in radii["btr"]] == (p_true > 0.1).tolist()
    assert record.details["ara"]["table"][0]["A(0)"] == pytest.approx(sum(correct) / n)


def test_radii_are_rmse_of_adversarial_inputs(record: Record) -> None:
    """Woods' radius unit: RMSE over all pixel values in [0, 1], so well below 1 for MNIST digits."""
    attack = [r for r in record.details["ara"]["radii"]["attack"] if r > 0]
    assert attack and max(attack) < 1.0
