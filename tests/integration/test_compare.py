"""``robex compare`` on records the pipeline wrote: identical models differ by exactly zero, not
significantly; a robustness gap is significant under McNemar's exact test on the same evaluation images."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch

from bench.checkpoint import save_checkpoint
from bench.cli import main
from bench.data import TrackData
from bench.frontends.api import run_track
from bench.models import build_architecture
from bench.results.compare import compare_records, find_record
from bench.results.places import default_results_root
from bench.track import Track


def constant_classifier(track: Track, label: int) -> torch.nn.Module:
    """The reference architecture with weights that ignore the input and always answer ``label``: its
    accuracy equals its robust accuracy at any ε (no perturbation can change its answer)."""
    model = build_architecture(track.architecture, track)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.features[-1].bias[0] = 1.0  # the GAP feature 0 is constant 1 ...
        model.classifier.weight[label, 0] = 1.0  # ... and votes for `label`
    return model.eval()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, quick_store: Path, track: Track, data: TrackData) -> Path:
    """Quick records (clean + pgd) of: standard, an identical twin (same recipe), a constant checkpoint."""
    root = tmp_path_factory.mktemp("compare")
    twin = root / "entries" / "twin"
    twin.mkdir(parents=True)
    (twin / "entry.toml").write_text(
        'name = "twin"\ntitle = "Standard, again"\nauthors = "t"\ntrack = "mnist5k"\n[defense]\nname = "standard"\n'
    )
    n = track.stage_settings("pgd", quick=True)["n"]
    label = int(torch.bincount(data.eval_y[:n]).argmax())  # the most frequent class among the PGD images
    const = root / "entries" / "constant"
    const.mkdir(parents=True)
    sha = save_checkpoint(constant_classifier(track, label), const / "w.safetensors")
    (const / "entry.toml").write_text(
        textwrap.dedent(
            f"""\
            name = "constant"
            title = "Constant classifier"
            authors = "t"
            track = "mnist5k"
            [checkpoint]
            architecture = "{track.architecture}"
            file = "w.safetensors"
            sha256 = "{sha}"
            """
        )
    )
    run_track(
        "mnist5k",
        entries=["standard", "twin", "constant"],
        extra_entries=[twin, const],
        store=quick_store,
        results_root=root / "results",
        quick=True,
        device="cpu",
        stages=["clean", "pgd"],
        executor_options={"show_progress": False},
    )
    return root / "results"


def _compare(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["compare", *args, "--quick", "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_identical_models_differ_by_zero_not_significantly(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _compare(capsys, "twin", "--against", "standard", "--results", str(results))
    scores = {s["score"]: s for s in doc[0]["scores"]}  # type: ignore[index, union-attr]
    for name in ("clean_accuracy", "pgd_accuracy"):
        s = scores[name]
        assert s["method"] == "McNemar exact" and s["discordant"] == [0, 0]
        assert s["difference"] == 0 and s["p_value"] == 1.0 and s["significant"] is False and s["better"] is None
    assert all(s["difference"] == 0 and not s["significant"] for s in scores.values())
    # the default comparison is against the track's baselines: standard
    doc = _compare(capsys, "twin", "--results", str(results))
    assert [c["other"] for c in doc] == ["standard"]  # type: ignore[index]


def test_a_robustness_gap_is_significant_on_the_same_images(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _compare(capsys, "standard", "--against", "constant", "--results", str(results))
    pgd = next(s for s in doc[0]["scores"] if s["score"] == "pgd_accuracy")  # type: ignore[index, union-attr]
    standard = find_record(results, "standard", quick=True)
    constant = find_record(results, "constant", quick=True)
    robust_s = standard.details["pgd"]["robust"]
    robust_c = constant.details["pgd"]["robust"]
    only_s = sum(a and not b for a, b in zip(robust_s, robust_c, strict=True))
    only_c = sum(b and not a for a, b in zip(robust_s, robust_c, strict=True))
    assert pgd["discordant"] == [only_s, only_c] and only_c > only_s
    assert pgd["significant"] is True and pgd["better"] == "other" and pgd["difference"] < 0
    assert main(["compare", "standard", "--against", "constant", "--quick", "--results", str(results)]) == 0
    assert "constant better" in capsys.readouterr().out


def test_standard_vs_pgd_at_on_the_committed_leaderboard() -> None:
    """The full-run records of the two baselines: adversarial training's robust accuracy gain is significant."""
    root = default_results_root()
    # The records are committed (a full `robex run`); their absence is a defect, not a reason to skip.
    assert (root / "mnist5k" / "standard.json").is_file(), "committed record of standard is missing"
    assert (root / "mnist5k" / "pgd_at.json").is_file(), "committed record of pgd_at is missing"
    comp = compare_records(find_record(root, "pgd_at", track="mnist5k"), find_record(root, "standard", track="mnist5k"))
    rows = {r.score.name: r for r in comp.rows}
    robust = [rows[n] for n in ("autoattack_accuracy", "pgd_accuracy") if n in rows and rows[n].result is not None]
    assert robust, "the records keep no per-image robustness results"
    for row in robust:
        assert row.result is not None and row.result.method == "McNemar exact"
        assert row.significant(0.05) and row.better(0.05) == "entry"
