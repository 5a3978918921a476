"""Every registered attack honours the Attack contract (parametrized over ``ATTACKS`` and both norms: a new
attack is tested with no new test code; an attack class may declare cheaper ``smoke_kwargs``).

One call per (attack, threat) on a copy of the trained standard model behind a BatchNorm layer in train
mode, then: the result is inside the budget (unless minimal-norm) and the domain; success flags and radii
agree with the model; inputs are not mutated; the mode is restored; BatchNorm statistics, parameters
(values, ``requires_grad``, ``.grad``), hooks and the global PRNG are untouched; a second call with an
identically seeded generator gives the identical result.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from bench.data import TrackData
from bench.plugins import ATTACKS
from bench.projection import rmse
from bench.protocols import Attack, AttackOutput
from bench.types import Norm, ThreatModel

pytestmark = pytest.mark.usefixtures("one_thread")

N = 12
THREATS = {Norm.LINF: ThreatModel.parse("linf:0.1"), Norm.L2: ThreatModel.parse("l2:1.5")}
CASES = [
    pytest.param(name, norm, id=f"{name}-{norm.value}")
    for name in ATTACKS.names()
    for norm in Norm
    if norm in ATTACKS.get(name).norms
]


def _create(name: str, norm: Norm) -> Attack:
    cls = ATTACKS.get(name)
    kwargs: Mapping[str, Any] = getattr(cls, "smoke_kwargs", {})
    return ATTACKS.create(name, THREATS[norm], **kwargs)


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


@pytest.fixture(scope="module")
def bn_model(standard_model: nn.Module) -> nn.Module:
    """A private copy of the standard model behind a BatchNorm layer with non-trivial running statistics."""
    bn = nn.BatchNorm2d(1)
    with torch.no_grad():
        bn.running_mean.fill_(0.02)
        bn.running_var.fill_(0.95)
    return nn.Sequential(bn, copy.deepcopy(standard_model))


@pytest.fixture(scope="module")
def batch(data: TrackData) -> tuple[Tensor, Tensor]:
    return data.eval_x[:N], data.eval_y[:N]


@pytest.fixture(scope="module")
def outputs(bn_model: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[tuple[str, Norm], dict[str, Any]]:
    """For each case: the output, a second output with the same seed, and what was observed around the call."""
    x, y = batch
    results: dict[tuple[str, Norm], dict[str, Any]] = {}
    for param in CASES:
        name, norm = param.values
        assert isinstance(name, str) and isinstance(norm, Norm)
        attack = _create(name, norm)
        bn_model.train()
        flags = {k: m.training for k, m in bn_model.named_modules()}
        state = {k: v.clone() for k, v in bn_model.state_dict().items()}
        req = [p.requires_grad for p in bn_model.parameters()]
        hooks = _hooks(bn_model)
        x_in, y_in = x.clone(), y.clone()
        rng = torch.get_rng_state()
        out = attack.perturb(bn_model, x_in, y_in, generator=torch.Generator().manual_seed(7))
        observed = {
            "out": out,
            "attack": attack,
            "inputs_intact": torch.equal(x_in, x) and torch.equal(y_in, y),
            "modes": {k: m.training for k, m in bn_model.named_modules()} == flags,
            "state": all(torch.equal(v, bn_model.state_dict()[k]) for k, v in state.items()),
            "requires_grad": [p.requires_grad for p in bn_model.parameters()] == req,
            "grads": all(p.grad is None for p in bn_model.parameters()),
            "hooks": _hooks(bn_model) == hooks,
            "rng": torch.equal(torch.get_rng_state(), rng),
        }
        observed["again"] = attack.perturb(bn_model, x, y, generator=torch.Generator().manual_seed(7))
        bn_model.eval()
        with torch.no_grad():
            observed["clean_logits"] = bn_model(x)
            observed["adv_logits"] = bn_model(out.x_adv)
        results[(name, norm)] = observed
    return results


def test_registry_holds_the_issue_attacks() -> None:
    assert {"fgsm", "tgsm", "pgd", "mifgsm", "autoattack", "l2min", "fab"} <= set(ATTACKS.names())


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_budget_and_domain(
    outputs: dict[tuple[str, Norm], dict[str, Any]], batch: tuple[Tensor, Tensor], name: str, norm: Norm
) -> None:
    x, _ = batch
    out: AttackOutput = outputs[(name, norm)]["out"]
    attack: Attack = outputs[(name, norm)]["attack"]
    assert out.x_adv.shape == x.shape and out.x_adv.dtype == x.dtype
    assert float(out.x_adv.min()) >= 0.0 and float(out.x_adv.max()) <= 1.0
    delta = (out.x_adv - x).flatten(1)
    if not attack.minimal_norm:
        eps = THREATS[norm].eps
        size = delta.abs().max(1).values if norm is Norm.LINF else delta.norm(dim=1)
        assert float(size.max()) <= eps * (1 + 1e-5) + 1e-6


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_success_and_radius_agree_with_the_model(
    outputs: dict[tuple[str, Norm], dict[str, Any]], batch: tuple[Tensor, Tensor], name: str, norm: Norm
) -> None:
    x, y = batch
    obs = outputs[(name, norm)]
    out: AttackOutput = obs["out"]
    attack: Attack = obs["attack"]
    attacked = attack.attackable(obs["clean_logits"], y)
    assert attacked.any(), "the fixture must leave some points to attack"
    expected = attack.criterion(obs["adv_logits"], y)
    if not attack.targeted:
        expected = expected | ~attacked
        assert torch.equal(out.x_adv[~attacked], x[~attacked])  # already-broken points come back unchanged
    assert torch.equal(out.success, expected)
    if attack.minimal_norm:
        assert out.radius is not None
        assert torch.equal(out.radius[~attacked], torch.zeros_like(out.radius[~attacked]))
        hit = attacked & out.success
        assert torch.allclose(out.radius[hit], rmse(out.x_adv - x)[hit])
        assert out.radius[attacked & ~out.success].isinf().all()
    else:
        assert out.radius is None


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_no_side_effects(outputs: dict[tuple[str, Norm], dict[str, Any]], name: str, norm: Norm) -> None:
    obs = outputs[(name, norm)]
    assert obs["inputs_intact"], "inputs were mutated"
    assert obs["modes"], "train/eval modes were not restored"
    assert obs["state"], "parameters or BatchNorm statistics changed"
    assert obs["requires_grad"], "requires_grad flags were not restored"
    assert obs["grads"], "parameter gradients were left behind"
    assert obs["hooks"], "hooks were left behind"
    assert obs["rng"], "the global PRNG was used or reseeded"


@pytest.mark.parametrize(("name", "norm"), CASES)
def test_deterministic_for_a_given_generator(
    outputs: dict[tuple[str, Norm], dict[str, Any]], name: str, norm: Norm
) -> None:
    obs = outputs[(name, norm)]
    assert torch.equal(obs["out"].x_adv, obs["again"].x_adv)
    assert torch.equal(obs["out"].success, obs["again"].success)
