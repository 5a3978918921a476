"""Every registered explainer honours the Explainer contract (no new test code for a new plug-in)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from bench.plugins import EXPLAINERS


def _hooks(model: nn.Module) -> int:
    kinds = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, kind)) for m in model.modules() for kind in kinds)


@pytest.fixture
def inputs() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand((3, 1, 28, 28), generator=g), torch.tensor([0, 3, 7])


@pytest.mark.parametrize("name", EXPLAINERS.names())
def test_explainer_contract(name: str, untrained_model: nn.Module, inputs: tuple[Tensor, Tensor]) -> None:
    x, t = inputs
    model = untrained_model
    model.train()  # attribute must force eval mode and restore training mode
    flags = [p.requires_grad for p in model.parameters()]
    x_before = x.clone()
    params_before = [p.detach().clone() for p in model.parameters()]
    explainer = EXPLAINERS.create(name)

    a = explainer.attribute(model, x, t, generator=torch.Generator().manual_seed(5))
    b = explainer.attribute(model, x, t, generator=torch.Generator().manual_seed(5))

    assert a.shape == x.shape
    assert torch.isfinite(a).all()
    assert a.abs().sum() > 0, "an all-zero map explains nothing"
    assert not a.requires_grad
    torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"{name} is not deterministic for a fixed generator")
    assert torch.equal(x, x_before), f"{name} mutated its input"
    assert _hooks(model) == 0, f"{name} left hooks on the model"
    assert all(p.grad is None for p in model.parameters()), f"{name} left parameter gradients"
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params_before, strict=True))
    assert model.training, "attribute did not restore the model's training mode"
