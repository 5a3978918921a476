"""The AutoAttack adapter is pyautoattack, unchanged: identical adversarial inputs to a direct call with the
same seed, an exact per-attack breakdown, captured sanity warnings; and the ensemble is not fooled by
gradient masking (Square breaks a model whose gradients are zero)."""

from __future__ import annotations

import logging

import pytest
import torch
from pyautoattack import AutoAttack
from torch import Tensor, nn

from attacks.autoattack import AutoAttackAdapter
from bench.data import TrackData
from bench.plugins import ATTACKS, STAGES
from bench.protocols import Proposal, evaluation_mode
from bench.results.intervals import wilson_interval
from bench.track import Track
from bench.types import ThreatModel
from tests.unit.test_fidelity import StageContext

pytestmark = pytest.mark.usefixtures("one_thread")


class Quantize8(nn.Module):
    """round(255·x)/255: the identity on 8-bit images, with zero gradient everywhere (gradient masking)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.round(x * 255) / 255


def _direct(model: nn.Module, x: Tensor, y: Tensor, threat: ThreatModel, **kwargs: object) -> Tensor:
    """pyautoattack called directly, as its README does (global PRNG left as pyautoattack leaves it)."""
    with evaluation_mode(model):
        aa = AutoAttack(model, eps=threat.eps, norm="Linf", seed=0, **kwargs)  # type: ignore[arg-type]
        x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=500)
    return x_adv


@pytest.mark.parametrize(
    ("eps", "kwargs"),
    [(0.3, {"version": "standard"}), (0.1, {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]})],
    ids=["standard", "custom"],
)
def test_identical_to_pyautoattack(standard_model: nn.Module, data: TrackData, eps: float, kwargs: dict) -> None:
    x, y = data.eval_x[:16], data.eval_y[:16]
    threat = ThreatModel.parse(f"linf:{eps}")
    adapter = ATTACKS.create("autoattack", threat, seed=0, **kwargs)
    out = adapter.perturb(standard_model, x, y, generator=torch.Generator())
    direct = _direct(standard_model, x, y, threat, **kwargs)
    with torch.no_grad():
        correct = standard_model(x).argmax(1) == y
        direct_robust = standard_model(direct).argmax(1) == y
    with evaluation_mode(standard_model):  # the hook itself returns pyautoattack's tensor bit for bit
        proposal = adapter.run(standard_model, x[correct], y[correct], generator=torch.Generator())
    assert isinstance(proposal, Proposal)
    assert torch.equal(proposal.x_adv, direct[correct])
    # the base replaces only values outside the ε-ball and [0, 1]: pyautoattack's are all inside
    assert torch.equal(out.x_adv, direct)
    assert torch.equal(~out.success, direct_robust)
    per_attack = out.details["per_attack"]
    assert list(per_attack)[-1] and per_attack[list(per_attack)[-1]] == pytest.approx(direct_robust.float().mean())
    assert list(per_attack.values()) == sorted(per_attack.values(), reverse=True)


def test_breakdown_matches_running_the_first_attack_alone(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:16], data.eval_y[:16]
    threat = ThreatModel.parse("linf:0.1")
    both = ATTACKS.create("autoattack", threat, version="custom", attacks=["apgd-ce", "apgd-t"])
    alone = ATTACKS.create("autoattack", threat, version="custom", attacks=["apgd-ce"])
    out_both = both.perturb(standard_model, x, y, generator=torch.Generator())
    out_alone = alone.perturb(standard_model, x, y, generator=torch.Generator())
    robust_alone = 1 - out_alone.success.float().mean().item()
    assert out_both.details["per_attack"]["apgd-ce"] == pytest.approx(robust_alone)
    assert out_both.details["per_attack"]["apgd-t"] == pytest.approx(1 - out_both.success.float().mean().item())
    with torch.no_grad():
        clean = int((standard_model(x).argmax(1) == y).sum())
    assert out_both.details["n"] == 16 and out_both.details["clean"] == clean
    assert out_both.details["robust"] == int((~out_both.success).sum())


def test_gradient_masking_does_not_look_robust(
    standard_model: nn.Module, data: TrackData, caplog: pytest.LogCaptureFixture
) -> None:
    masked = nn.Sequential(Quantize8(), standard_model).eval()
    x, y = data.eval_x[:8], data.eval_y[:8]
    threat = ThreatModel.parse("linf:0.3")
    with torch.no_grad():
        assert torch.equal(masked(x), standard_model(x))  # the same classifier on real (8-bit) images
    pgd = ATTACKS.create("pgd", threat, steps=10, random_start=False).perturb(masked, x, y, generator=torch.Generator())
    clean = (masked(x).argmax(1) == y).float().mean().item()
    assert 1 - pgd.success.float().mean().item() == pytest.approx(clean)  # gradient steps go nowhere
    with caplog.at_level(logging.WARNING, logger="attacks.autoattack"):
        out = ATTACKS.create("autoattack", threat).perturb(masked, x, y, generator=torch.Generator())
    per_attack = out.details["per_attack"]
    assert per_attack["fab-t"] >= 0.5  # the gradient attacks get (almost) nowhere: only their random starts...
    assert per_attack["square"] <= 0.125  # ...and the black-box Square breaks (nearly) every point
    assert float(out.success.float().mean()) >= 0.875
    warnings = " ".join(out.details["warnings"])
    assert "zero gradient" in warnings and "Square Attack has decreased the robust accuracy" in warnings
    assert "zero gradient" in caplog.text  # re-logged through our logger, not lost


def test_bad_settings_raise() -> None:
    threat = ThreatModel.parse("linf:0.1")
    with pytest.raises(ValueError, match="version"):
        AutoAttackAdapter(threat, version="fast")
    with pytest.raises(ValueError, match="exactly when"):
        AutoAttackAdapter(threat, attacks=["square"])
    with pytest.raises(ValueError, match="unknown AutoAttack"):
        AutoAttackAdapter(threat, version="custom", attacks=["cw"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        AutoAttackAdapter(ThreatModel(norm=threat.norm, eps=0.1, lower=-1.0, upper=1.0))


def test_beyond_eps_defaults_to_the_grid_points_above_the_track_eps(track: Track) -> None:
    stage = STAGES.create("autoattack")
    assert track.threat.eps == 0.3
    assert stage.settings(track, quick=False)["beyond_eps"] == [0.35, 0.4]  # Boopathy et al.'s MNIST grid
    assert stage.settings(track, quick=True)["beyond_eps"] == []  # smoke runs stay cheap


def test_the_stage_runs_the_same_autoattack_beyond_the_track_eps(
    track: Track, data: TrackData, standard_model: nn.Module
) -> None:
    ctx = StageContext("autoattack", track, data, standard_model)
    ctx.settings = {**ctx.settings, "n": 12, "beyond_eps": [0.35, 0.4]}
    ctx.randomized = lambda: False  # type: ignore[attr-defined]  # a deterministic model
    out = ctx.stage.run(ctx)
    rows = out.details["beyond"]
    assert [r["eps"] for r in rows] == [0.35, 0.4]
    for r in rows:
        k = sum(r["robust"])
        assert (r["n"], r["accuracy"]) == (12, k / 12) and (r["ci_low"], r["ci_high"]) == wilson_interval(k, 12)
    # outside the threat model: the ranking score and the per-image vectors robust_accuracy reads are the track ε's
    (score,) = out.scores
    assert score.value == sum(out.details["robust"]) / 12 and out.details["eps"] == 0.3
    assert ctx.stage.robust_vectors(out) == {"autoattack": out.details["robust"]}
