"""Sanity checks: each fires on a deliberately broken model and is silent on the standard model; our model
checks agree with pyautoattack's own checks on the same models; the paired tests and finalizers."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from scipy.stats import binomtest
from torch import Tensor, nn

from bench.data import TrackData
from bench.entries import Entry
from bench.manifest import parse_manifest
from bench.plugins import ATTACKS, FINALIZERS
from bench.protocols import InputConnected, StageOutput
from bench.results.intervals import wilson_interval
from bench.results.records import Record, read_record
from bench.running import checks, flags, verdicts
from bench.running.flags import Check, make_flag
from bench.running.runner import RecordDraft
from bench.stages import masking
from bench.track import Track
from bench.types import Flag, ScoreValue, Severity, ThreatModel
from tests.broken_models import (
    BatchNormCNN,
    Dynamic,
    NaNOutput,
    Quantized,
    Randomized,
    SoftmaxOutput,
    Stateful,
)

N = 64


@pytest.fixture(scope="module")
def batch(data: TrackData) -> tuple[Tensor, Tensor]:
    return data.eval_batch(N)


def run_check(check: Check, model: nn.Module, x: Tensor, y: Tensor) -> Flag | None:
    fn = checks.MODEL_CHECKS[check]
    return fn(model, x, y) if check is Check.ZERO_GRADIENTS else fn(model, x)


BROKEN: dict[Check, Callable[[nn.Module], nn.Module]] = {
    Check.NONFINITE: NaNOutput,
    Check.SOFTMAX: SoftmaxOutput,
    Check.ZERO_GRADIENTS: Quantized,
    Check.RANDOMIZED: Randomized,
    Check.DYNAMIC: Dynamic,
    Check.BATCHNORM: lambda _base: BatchNormCNN().train(),
}


@pytest.mark.parametrize("check", list(checks.MODEL_CHECKS))
def test_model_check_fires_on_broken_model(
    check: Check, standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    flag = run_check(check, BROKEN[check](standard_model), x, y)
    assert flag is not None and flag.name == check.value
    assert flag.severity is flags.SEVERITY[check]
    assert flag.message.startswith(flags.EXPLANATIONS[check]) and "\n" not in flag.message


@pytest.mark.parametrize("check", list(checks.MODEL_CHECKS))
def test_model_check_silent_on_standard_model(
    check: Check, standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, y = batch
    assert run_check(check, standard_model, x, y) is None


def test_batchnorm_silent_in_eval_mode_and_restores_buffers(batch: tuple[Tensor, Tensor]) -> None:
    x, _ = batch
    model = BatchNormCNN().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert checks.check_batchnorm(model, x) is not None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert checks.check_batchnorm(model.eval(), x) is None


def test_evidence(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    x, y = batch
    nan = checks.check_nonfinite(NaNOutput(standard_model), x)
    assert nan is not None and nan.evidence["fraction"] == pytest.approx(0.25)
    zero = checks.check_zero_gradients(Quantized(standard_model), x, y)
    assert zero is not None and zero.evidence["fraction"] == 1.0
    declared = checks.check_randomized(Randomized(standard_model), x, declared=True)
    assert declared is not None and declared.severity is Severity.INFO
    wrong_shape = checks.check_nonfinite(nn.Flatten(start_dim=0), x)
    assert wrong_shape is not None and "shape" in wrong_shape.message


# ------------------------------------------------------------------------------------------ vs pyautoattack
def autoattack_warnings(fn: Callable[[], object]) -> list[Check | None]:
    """Run one of pyautoattack's check functions and classify the warnings it emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [checks.classify_autoattack_warning(str(w.message)) for w in caught]


def test_agrees_with_pyautoattack_checks(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    """pyautoattack's own checks on the same models raise the warnings our checks map to the same flags."""
    import sys

    from pyautoattack import checks as aa

    x, y = batch
    assert autoattack_warnings(lambda: aa.check_range_output(SoftmaxOutput(standard_model), x)) == [Check.SOFTMAX]
    assert autoattack_warnings(lambda: aa.check_range_output(standard_model, x)) == []
    assert autoattack_warnings(lambda: aa.check_randomized(Randomized(standard_model), x, y)) == [Check.RANDOMIZED]
    assert autoattack_warnings(lambda: aa.check_randomized(standard_model, x, y)) == []
    trace = sys.gettrace()
    try:
        for model, expected in ((standard_model, []), (Dynamic(standard_model), [Check.DYNAMIC])):
            for key in aa.funcs:
                aa.funcs[key] = 0
            assert autoattack_warnings(lambda m=model: aa.check_dynamic(m, x)) == expected
    finally:
        sys.settrace(trace)
    q = Quantized(standard_model)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nn.functional.cross_entropy(q(xg), y), xg)
    assert autoattack_warnings(lambda: aa.check_zero_gradients(g)) == [Check.ZERO_GRADIENTS]
    square = {"clean": 0.9, "apgd-ce": 0.5, "apgd-t": 0.45, "fab-t": 0.45, "square": 0.3}
    assert autoattack_warnings(lambda: aa.check_square_sr(square)) == [Check.BLACKBOX_BEATS_WHITEBOX]
    assert checks.blackbox_beats_whitebox(square) is not None


def test_dynamic_check_restores_tracer(standard_model: nn.Module, batch: tuple[Tensor, Tensor]) -> None:
    import sys

    seen: list[str] = []

    def tracer(frame: object, event: str, arg: object) -> None:
        seen.append(event)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        checks.check_dynamic(standard_model, batch[0][:2])
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


# ------------------------------------------------------------------------------------------ attack checks
def robust(model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, seed: int = 0, **kw: object) -> Tensor:
    out = ATTACKS.create("pgd", threat, **kw).perturb(model, x, y, generator=torch.Generator().manual_seed(seed))
    return ~out.success


def large_eps_flag(model: nn.Module, x: Tensor, y: Tensor, track: Track) -> Flag | None:
    big = ThreatModel(track.threat.norm, 1.0)
    acc = float(robust(model, x, y, big, steps=10, step_size=0.1, random_start=False).float().mean())
    return checks.large_eps_accuracy(acc, 1.0, max_accuracy=0.05, n=len(y))


def test_large_eps(standard_model: nn.Module, batch: tuple[Tensor, Tensor], track: Track) -> None:
    x, y = batch
    assert large_eps_flag(standard_model, x, y, track) is None
    flag = large_eps_flag(Quantized(standard_model), x, y, track)
    assert flag is not None and flag.name == Check.LARGE_EPS.value and flag.evidence["accuracy"] > 0.5


def more_steps_flag(model: nn.Module, x: Tensor, y: Tensor, track: Track) -> Flag | None:
    runs = [robust(model, x, y, track.threat, steps=s, step_size=0.01, early_stop=False) for s in (5, 40)]
    return checks.more_steps_raise_accuracy(runs[0], runs[1], steps=(5, 40))


def test_more_steps(standard_model: nn.Module, batch: tuple[Tensor, Tensor], track: Track) -> None:
    x, y = batch[0][:32], batch[1][:32]
    assert more_steps_flag(standard_model, x, y, track) is None
    flag = more_steps_flag(Stateful(standard_model), x, y, track)
    assert flag is not None and flag.name == Check.MORE_STEPS.value
    assert flag.evidence["reference_accuracy"] > flag.evidence["other_accuracy"]


def test_transfer_beats_whitebox(
    standard_model: nn.Module, untrained_model: nn.Module, batch: tuple[Tensor, Tensor], track: Track
) -> None:
    """Quantized input (zero gradients): white-box PGD is stuck, PGD examples from the standard model are not."""
    x, y = batch
    attack = ATTACKS.create("pgd", track.threat, steps=20, step_size=0.03)
    gen = torch.Generator().manual_seed(0)
    from_standard = attack(standard_model, x, y, generator=gen)
    quantized = Quantized(standard_model)
    with torch.no_grad():
        transferred = quantized(from_standard).argmax(1) == y
    white = robust(quantized, x, y, track.threat, steps=20, step_size=0.03)
    flag = checks.transfer_beats_whitebox(white, transferred, whitebox="pgd", transfer="pgd from standard")
    assert flag is not None and flag.name == Check.TRANSFER_BEATS_WHITEBOX.value
    # the standard model: its own white-box attack is stronger than examples from another model
    from_other = attack(untrained_model, x, y, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        transferred = standard_model(from_other).argmax(1) == y
    white = robust(standard_model, x, y, track.threat, steps=20, step_size=0.03)
    assert checks.transfer_beats_whitebox(white, transferred, whitebox="pgd", transfer="pgd") is None


@pytest.mark.parametrize(
    ("reference", "other", "worse"),
    [
        ([1] * 20, [0] * 20, True),
        ([1] * 20, [1] * 20, False),
        ([1, 1, 1, 0, 0], [1, 1, 0, 0, 0], False),  # one discordant image: p = 0.5
        ([1] * 6 + [0] * 4, [0] * 6 + [1] * 4, False),  # 6 vs 4 discordant: not significant
        ([1] * 10 + [0] * 5, [0] * 10 + [0] * 5, True),  # 10 vs 0: p = 2^-10
        ([1] * 5, [0] * 5 + [1] * 100, True),  # only the common prefix counts: 5 vs 0, p = 1/32
    ],
)
def test_paired_worse(reference: list[int], other: list[int], worse: bool) -> None:
    got, ev = checks.paired_worse(reference, other)
    assert got is worse
    assert ev["n"] == min(len(reference), len(other))
    assert ev["p_value"] == pytest.approx(
        binomtest(
            int(ev["discordant_worse"]),
            int(ev["discordant_worse"] + ev["discordant_better"]),
            0.5,
            alternative="greater",
        ).pvalue
        if ev["discordant_worse"] + ev["discordant_better"]
        else 1.0
    )


def test_paired_worse_rejects_non_binary() -> None:
    with pytest.raises(ValueError, match="0/1"):
        checks.paired_worse([0.5], [1])


def test_blackbox_beats_whitebox() -> None:
    assert checks.blackbox_beats_whitebox({"apgd-ce": 0.4, "apgd-t": 0.4, "square": 0.4}) is None
    assert checks.blackbox_beats_whitebox({"apgd-ce": 0.4, "square": 0.1}) is None  # needs ≥ 2 others (AA's rule)
    flag = checks.blackbox_beats_whitebox({"apgd-ce": 0.5, "apgd-t": 0.4, "fab-t": 0.4, "square": 0.35})
    assert flag is not None and flag.evidence == {"square_accuracy": 0.35, "gradient_accuracy": 0.4}


# ------------------------------------------------------------------------------------------ finalizers
def draft(outputs: dict[str, StageOutput]) -> RecordDraft:
    manifest = parse_manifest(
        {"name": "e", "title": "E", "authors": "A", "track": "mnist5k", "defense": {"name": "standard"}}
    )
    return RecordDraft(entry=Entry(manifest), outputs=outputs)


def test_robust_accuracy_is_the_per_image_worst_case_on_the_common_prefix() -> None:
    """Hand-built vectors where the minimum of aggregates and the per-image worst case differ: the minimum of
    the attacks' accuracies over their own images is 0.5 (sanity, 4 images), but PGD breaks image 1, which
    sanity's run does not: on the common 4-image prefix only image 0 resists every attack (0.25)."""
    d = draft(
        {
            "autoattack": StageOutput(details={"robust": [1, 1, 0, 1, 1, 1]}),  # 5/6
            "pgd": StageOutput(details={"robust": [1, 0, 1, 1, 1, 1, 1, 1], "steps": 40}),  # 7/8
            "clean": StageOutput(details={"correct": [0, 0, 0, 0]}),  # not an attack
            "sanity": StageOutput(
                details={"attacks_at_eps": {"pgd-100": {"accuracy": 0.5, "n": 4, "robust": [1, 1, 0, 0]}}}
            ),
            "pgd_sweep": StageOutput(
                details={"robust": {"0.1": [1, 1, 1, 1, 1], "0.4": [0, 0, 0, 0, 0]}, "steps": 50, "track_eps": 0.3}
            ),  # ε = 0.4 is outside the threat model
        }
    )
    out = FINALIZERS.get("robust_accuracy")(d)
    (score,) = out.scores
    minimum_of_aggregates = min(row["accuracy"] for row in out.details["table"])
    assert minimum_of_aggregates == 0.5
    assert (score.name, score.value, score.n) == ("robust_accuracy", 0.25, 4)
    assert (score.ci_low, score.ci_high) == pytest.approx(wilson_interval(1, 4))
    assert out.details["robust"] == [1, 0, 0, 0] and out.details["n"] == 4 and out.details["attacks"] == 4
    rows = {row["attack"]: row for row in out.details["table"]}
    assert set(rows) == {
        "autoattack: autoattack",
        "pgd: pgd-40",
        "sanity: pgd-100",
        "pgd_sweep: pgd-50 at ε=0.1 (no random start)",
    }
    assert {a: r["only_this_breaks"] for a, r in rows.items()} == {
        "autoattack: autoattack": 0,
        "pgd: pgd-40": 1,
        "sanity: pgd-100": 1,
        "pgd_sweep: pgd-50 at ε=0.1 (no random start)": 0,
    }
    assert rows["pgd: pgd-40"]["accuracy"] == 7 / 8 and rows["pgd: pgd-40"]["accuracy_on_common"] == 0.75
    assert FINALIZERS.get("robust_accuracy")(draft({})).scores == ()


def test_an_attack_listed_without_its_per_image_results_is_an_error() -> None:
    d = draft({"sanity": StageOutput(details={"attacks_at_eps": {"pgd-100": {"accuracy": 0.3, "n": 100}}})})
    with pytest.raises(ValueError, match="per-image"):
        FINALIZERS.get("robust_accuracy")(d)


def test_transfer_vs_whitebox_finalizer() -> None:
    transfer = StageOutput(
        details={"worst_robust": [0] * 30, "self_robust": [1] * 30, "worst_source": "standard", "attack": "pgd"}
    )
    flags = FINALIZERS.get("transfer_vs_whitebox")(draft({"transfer": transfer})).flags
    assert [f.name for f in flags] == [Check.TRANSFER_BEATS_WHITEBOX.value] and "standard" in flags[0].message
    ok = StageOutput(details={"worst_robust": [1] * 30, "self_robust": [0] * 30})
    assert (
        FINALIZERS.get("transfer_vs_whitebox")(
            draft({"transfer": ok, "pgd": StageOutput(details={"robust": [0] * 30})})
        ).flags
        == ()
    )


def test_autoattack_checks_finalizer_dedupes_with_sanity() -> None:
    aa = StageOutput(
        details={
            "per_attack": {"apgd-ce": 0.5, "apgd-t": 0.5, "fab-t": 0.5, "square": 0.2},
            "warnings": [
                "it seems that the output is a probability distribution, please be sure that the logits are used!",
                "it seems to be a randomized defense! Please use version='rand'.",
                "Square Attack has decreased the robust accuracy of 30.00%.",
            ],
        }
    )
    sanity = StageOutput(flags=(make_flag(Check.SOFTMAX, {}),))
    names = [f.name for f in FINALIZERS.get("autoattack_checks")(draft({"autoattack": aa, "sanity": sanity})).flags]
    assert names == [Check.BLACKBOX_BEATS_WHITEBOX.value, Check.RANDOMIZED.value]
    declared = StageOutput(details={**aa.details, "randomized": True})
    flags = FINALIZERS.get("autoattack_checks")(draft({"autoattack": declared})).flags
    assert {f.name: f.severity for f in flags}[Check.RANDOMIZED.value] is Severity.INFO


# ------------------------------------------------------------------------------------------ gradient masking
COMMITTED = Path(__file__).resolve().parents[2] / "leaderboard" / "results"


def _outputs(record: Record) -> dict[str, StageOutput]:
    return {k: StageOutput(details=v) for k, v in record.details.items() if isinstance(v, dict)}


@pytest.mark.parametrize(
    "path",
    sorted(COMMITTED.glob("mnist5k/*.json")),  # the other tracks' records predate per-image sanity results
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_no_committed_record_is_flagged_as_gradient_masking(path: Path) -> None:
    """Every committed baseline (TRADES and PGD-AT carry AutoAttack's noisy Square warning; distillation carries
    ``large_eps_accuracy`` at 90% with AutoAttack at 0%) passes the rule: none of them gets the fail flag."""
    record = read_record(path)
    d = draft(_outputs(record))
    evidence, _ = masking.masking_evidence(d.outputs)
    assert evidence.zero_gradient_fraction == 0.0 and evidence.robust_accuracy is not None
    assert FINALIZERS.get("gradient_masking")(d).flags == ()


def test_distillation_is_blocked_for_pgd_but_not_flagged_because_autoattack_breaks_it() -> None:
    record = read_record(COMMITTED / "mnist5k" / "distillation.json")
    evidence, thresholds = masking.masking_evidence(_outputs(record))
    assert evidence.large_eps_accuracy is not None and evidence.large_eps_accuracy > 0.85
    assert evidence.robust_accuracy == 0.0 and thresholds.near_zero_accuracy == 0.05
    # AutoAttack's DLR loss and the examples transferred from standard both break it; with white-box PGD alone its
    # robust accuracy would be PGD's 91%, and then it is flagged
    pgd_only = {k: v for k, v in _outputs(record).items() if k in ("clean", "pgd", "sanity")}
    flag = FINALIZERS.get("gradient_masking")(draft(pgd_only)).flags[0]
    assert flag.severity is Severity.FAIL and "accuracy at a budget that allows any image" in flag.message


@pytest.mark.parametrize(
    ("evidence", "fires", "reason"),
    [
        (verdicts.MaskingEvidence(0.05, 0.0, 0.0, 0.0), True, "zero input gradient on 5.0%"),
        (verdicts.MaskingEvidence(0.04, 0.0, 0.0, 0.0), False, ""),
        (verdicts.MaskingEvidence(0.0, 0.06, 0.06, 0.0), True, "6.0% accuracy at a budget that allows any image"),
        (verdicts.MaskingEvidence(0.0, 0.06, 0.05, 0.0), False, ""),
        (verdicts.MaskingEvidence(0.0, 0.05, 0.9, 0.0), False, ""),
        (verdicts.MaskingEvidence(0.0, 0.0, 0.3, 0.05), True, "Square broke 5.0%"),
        (verdicts.MaskingEvidence(0.0, 0.0, 0.3, 0.049), False, ""),
        (verdicts.MaskingEvidence(), False, ""),
    ],
    ids=[
        "vanishing",
        "few-zero",
        "blocked",
        "blocked-but-ranked-near-zero",
        "large-eps-ok",
        "shattered",
        "small-gap",
        "no-evidence",
    ],
)
def test_gradient_masking_rule_at_its_thresholds(evidence: verdicts.MaskingEvidence, fires: bool, reason: str) -> None:
    flag = verdicts.gradient_masking(evidence)
    assert (flag is not None) is fires
    if flag is not None:
        assert flag.severity is Severity.FAIL and reason in flag.message
        assert flag.evidence == {k: v for k, v in dataclasses.asdict(evidence).items() if v is not None}


def test_the_finalizer_reads_sanity_and_autoattack() -> None:
    sanity = StageOutput(
        details={
            "checks": {"zero_gradients": {"fired": True, "evidence": {"fraction": 1.0, "count": 32.0}}},
            "large_eps": {"eps": 1.0, "accuracy": 0.6, "steps": 20, "max_accuracy": 0.1},
            "attacks_at_eps": {"pgd-20": {"accuracy": 0.5, "n": 4, "robust": [1, 1, 0, 0]}},
        }
    )
    aa = StageOutput(details={"per_attack": {"apgd-ce": 0.5, "apgd-t": 0.5, "square": 0.25}, "robust": [1, 0, 0, 0]})
    evidence, thresholds = masking.masking_evidence({"sanity": sanity, "autoattack": aa})
    assert evidence == verdicts.MaskingEvidence(1.0, 0.6, 0.25, 0.25) and thresholds.near_zero_accuracy == 0.1
    flags = FINALIZERS.get("gradient_masking")(draft({"sanity": sanity, "autoattack": aa})).flags
    assert len(flags) == 1 and flags[0].message.count(";") == 2  # all three conditions named


def test_a_crashed_stage_is_a_fail_flag_naming_it_and_the_record_is_not_ranked() -> None:
    from bench.results.ranking import ranking
    from bench.running.assemble import build_record
    from bench.running.runner import RunSpec
    from bench.track import load_track

    spec = RunSpec(track="mnist5k", entries=(), store="unused", quick=True)
    d = draft({"clean": StageOutput(scores=(ScoreValue("clean_accuracy", 0.9, 10),))})
    d.errors = {"pgd": "Traceback ...\nRuntimeError: element 0 of tensors does not require grad"}
    record = build_record(spec, load_track("mnist5k"), d, {})
    assert record.status == "partial"
    flag = next(f for f in record.flags if f.name == "stage_failed")
    assert flag.severity == "fail" and flag.evidence == {"stages": 1.0}
    assert "(pgd: RuntimeError: element 0 of tensors does not require grad)" in flag.message
    placed = ranking([record], "clean_accuracy", include_quick=True)
    assert placed[0].rank is None and placed[0].reason == "flagged: stage_failed"
    # a partial record written before the flag existed is not ranked either
    old = record.model_copy(update={"flags": []})
    assert old.exclusion(include_quick=True) == "partial: pgd failed"


def test_input_connected_keeps_values_and_gives_a_disconnected_model_a_zero_gradient(
    standard_model: nn.Module, batch: tuple[Tensor, Tensor]
) -> None:
    x, _ = batch
    binarise = _Binarise(standard_model)
    xg = x.clone().requires_grad_(True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(binarise(xg).sum(), xg)
    connected = InputConnected(binarise)
    out = connected(xg)
    assert torch.equal(out, binarise(x))
    (grad,) = torch.autograd.grad(out.sum(), xg)
    assert bool((grad == 0).all())
    # an honest model's gradient is the same bit for bit
    (g1,) = torch.autograd.grad(standard_model(xg).sum(), xg)
    (g2,) = torch.autograd.grad(InputConnected(standard_model)(xg).sum(), xg)
    assert torch.equal(g1, g2)


class _Binarise(nn.Module):
    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        return self.base((x > 0.5).to(x.dtype)).detach()
