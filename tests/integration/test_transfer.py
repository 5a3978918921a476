"""The transfer matrix and the cross-stage flags end to end through the runner (quick settings), on the
``standard`` baseline (the track's fixed surrogate, quick-trained) and three checkpoint entries: ``std_ckpt``
(a standard model trained 3 epochs), ``quantized`` (the same weights behind a 4-level input quantisation:
zero gradients) and ``untrained``.

- Adding ``untrained`` to the other three computes one craft cell and 2·4 − 1 = 7 pair cells, and the records
  equal those of a full recompute in a fresh store.
- The matrix diagonal equals white-box accuracy under the same attack.
- The quantised entry is flagged (zero gradients, accuracy at ε = 1, transfer beating white-box) and its
  robust accuracy is the minimum over every attack run; the standard entry is not flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.entries import load_entries
from bench.frontends.api import RunReport, run_track
from bench.models import ARCHITECTURES, build_architecture
from bench.plugins import ATTACKS
from bench.results.records import Record
from bench.running.flags import Check
from bench.running.runner import CellContext, RunSpec, all_keys, plan_cells
from bench.running.training import seeded
from bench.stages.transfer import craft_plan, headline_label
from bench.track import Track
from tests.broken_models import Quantized
from tests.checkpoint_entries import write_checkpoint_entry

pytestmark = pytest.mark.slow

QUANTIZED_ARCH = "test_quantized_small_cnn"
STAGES = ["craft", "transfer"]
FIRST = ["standard", "std_ckpt", "quantized"]
ALL = [*FIRST, "untrained"]


def quantized_small_cnn(track: Track, **kwargs: Any) -> nn.Module:
    """The reference architecture behind a 4-level input quantisation (test-only architecture)."""
    return Quantized(build_architecture(track.architecture, track, **kwargs))


@pytest.fixture(scope="module")
def entry_dirs(tmp_path_factory: pytest.TempPathFactory, standard_model: nn.Module, track: Track) -> list[Path]:
    if QUANTIZED_ARCH not in ARCHITECTURES:
        ARCHITECTURES.add(QUANTIZED_ARCH, quantized_small_cnn)
    with seeded(0):
        untrained_model = build_architecture(track.architecture, track)
    base = tmp_path_factory.mktemp("entries")
    return [
        write_checkpoint_entry(base, "std_ckpt", standard_model),
        write_checkpoint_entry(base, "quantized", Quantized(standard_model), QUANTIZED_ARCH),
        write_checkpoint_entry(base, "untrained", untrained_model),
    ]


def run(dirs: list[Path], names: list[str], store: Path, results: Path, stages: list[str]) -> RunReport:
    return run_track(
        "mnist5k",
        entries=names,
        extra_entries=dirs,
        store=store,
        results_root=results,
        quick=True,
        device="cpu",
        stages=stages,
        executor_options={"show_progress": False},
    )


def by_name(report: RunReport) -> dict[str, Record]:
    return {r.entry.name: r for r in report.records}


@dataclass(frozen=True)
class Incremental:
    """A run of two entries, then of three in the same store."""

    first: RunReport
    second: RunReport
    store: Path


@pytest.fixture(scope="module")
def incremental(entry_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Incremental:
    store, results = tmp_path_factory.mktemp("store"), tmp_path_factory.mktemp("results")
    first = run(entry_dirs, FIRST, store, results, STAGES)
    second = run(entry_dirs, ALL, store, results, STAGES)
    return Incremental(first, second, store)


def test_adding_an_entry_costs_one_craft_and_2n_minus_1_pairs(incremental: Incremental) -> None:
    first, second = incremental.first, incremental.second
    assert first.counts[2] == 0 and second.counts[2] == 0, [r.error for r in second.results.values() if not r.ok]
    computed = sorted(r.label for r in second.results.values() if not r.cached)
    pairs = sorted(label for label in computed if label.startswith("transfer:"))
    assert [label for label in computed if label.startswith("craft:")] == ["craft:untrained"]
    expected = [f"transfer:untrained->{t}" for t in ALL] + [f"transfer:{s}->untrained" for s in FIRST]
    assert pairs == sorted(expected) and len(pairs) == 2 * len(ALL) - 1


def test_incremental_equals_full_recompute(
    incremental: Incremental, entry_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    second = incremental.second
    full = run(
        entry_dirs,
        ALL,
        tmp_path_factory.mktemp("store_full"),
        tmp_path_factory.mktemp("results_full"),
        STAGES,
    )
    assert full.counts[1] == 0  # nothing cached: a real recompute
    inc, ref = by_name(second), by_name(full)
    assert sorted(inc) == sorted(ref) == sorted(ALL)
    for name in ref:
        assert inc[name].scores == ref[name].scores
        assert inc[name].details["transfer"] == ref[name].details["transfer"]
    # the matrix from the records: each record's column (as target) and row (as source) agree
    for target, rec in ref.items():
        for source, acc in rec.details["transfer"]["as_target"].items():
            assert ref[source].details["transfer"]["as_source"][target] == acc


def test_summary_scores(incremental: Incremental) -> None:
    recs = by_name(incremental.second)
    t = recs["quantized"].details["transfer"]
    others = {s: a for s, a in t["as_target"].items() if s != "quantized"}
    assert recs["quantized"].score("transfer_accuracy_mean") == pytest.approx(sum(others.values()) / len(others))
    assert recs["quantized"].score("transfer_accuracy_worst") == min(others.values())
    assert t["worst_source"] == min(others, key=lambda s: (others[s], s))
    assert recs["quantized"].score("transfer_accuracy_surrogate") == t["as_target"]["standard"]
    assert "transfer_accuracy_surrogate" not in recs["standard"].scores  # its own examples are white-box
    assert (
        recs["standard"].details["transfer"]["white_box"]
        == recs["standard"].details["transfer"]["as_target"]["standard"]
    )
    curves = t["curves"]
    assert {"fgsm_white_box", "fgsm_surrogate", "fgsm_transfer_mean", "tgsm_white_box"} <= set(curves)
    for curve in curves.values():
        assert curve["x"][0] == 0.0 and len(curve["x"]) == len(curve["y"]) and "not Woods' ARA" in curve["title"]


def test_diagonal_equals_white_box_accuracy(incremental: Incremental, entry_dirs: list[Path], track: Track) -> None:
    """The (e, e) cell evaluates e on examples crafted on e: the white-box accuracy under the same attack
    (same generator, same 8-bit quantisation); without quantisation it differs by at most a couple of images."""
    from attacks.transfer import craft, dequantize

    chosen = load_entries(track, ALL, entry_dirs)
    spec = RunSpec(
        track="mnist5k",
        entries=tuple(e.to_payload() for e in chosen),
        store=str(incremental.store),
        quick=True,
        stages=tuple(STAGES),
    )
    cells = plan_cells(spec)
    keys = all_keys(cells)
    records = by_name(incremental.second)
    for name in ALL:
        ctx = CellContext(spec, next(c for c in cells if c.stage == "craft" and c.entry == name), keys)
        model = ctx.model()
        x, y = ctx.eval_batch()
        plan = {p[0]: p for p in craft_plan(track, ctx.settings)}
        label, attack_name, threat, kwargs = plan[headline_label(track)]
        attack = ATTACKS.create(attack_name, threat, **kwargs)
        crafted = dequantize(craft(attack, model, x, y, ctx.generator(label)))
        with torch.no_grad():  # resisted: right on the crafted example and on the clean image
            white_box = float(((model(crafted).argmax(1) == y) & (model(x).argmax(1) == y)).float().mean())
        assert records[name].details["transfer"]["white_box"] == white_box
        unquantized = attack.perturb(model, x, y, generator=ctx.generator(label), every_image=True)
        assert abs((1 - float(unquantized.success.float().mean())) - white_box) <= 2 / len(y)


@pytest.fixture(scope="module")
def flagged(incremental: Incremental, entry_dirs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> RunReport:
    """std_ckpt + quantized with the sanity and pgd stages too (craft/transfer cells come from the store)."""
    stages = ["sanity", "pgd", *STAGES]
    return run(entry_dirs, ["std_ckpt", "quantized"], incremental.store, tmp_path_factory.mktemp("r"), stages)


def test_flags_fire_on_the_quantized_entry_only(flagged: RunReport) -> None:
    recs = by_name(flagged)
    expected = {Check.ZERO_GRADIENTS.value, Check.LARGE_EPS.value, Check.TRANSFER_BEATS_WHITEBOX.value}
    quantized = {f.name for f in recs["quantized"].flags}
    assert expected <= quantized
    assert not expected & {f.name for f in recs["std_ckpt"].flags}
    for f in recs["quantized"].flags:
        assert f.message and "\n" not in f.message


def test_flagged_robust_accuracy_is_the_per_image_worst_case_over_every_attack(flagged: RunReport) -> None:
    for rec in flagged.records:
        ra = rec.details["finalize:robust_accuracy"]
        table = ra["table"]
        sources = {row["attack"] for row in table}
        assert any(s.startswith("pgd: ") for s in sources) and any(s.startswith("sanity: ") for s in sources)
        assert any(s.startswith("transfer: pgd@") and "every source" in s for s in sources)
        n = min(row["n"] for row in table)
        assert ra["n"] == n == len(ra["robust"]) and rec.scores["robust_accuracy"].n == n
        assert rec.score("robust_accuracy") == sum(ra["robust"]) / n
        assert rec.score("robust_accuracy") <= min(row["accuracy_on_common"] for row in table)
    q = by_name(flagged)["quantized"]
    assert (q.score("robust_accuracy") or 0) < (q.score("pgd_accuracy") or 0)  # the white-box number is not trusted
