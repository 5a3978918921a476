"""Transfer crafting: 8-bit quantisation that never leaves the threat model, and forward-only evaluation."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from attacks.transfer import craft, dequantize, quantize, transfer_correct
from bench.data import TrackData
from bench.plugins import ATTACKS
from bench.stages.transfer import CraftStage, TransferStage, craft_plan
from bench.track import Track
from bench.types import ThreatModel

pytestmark = pytest.mark.usefixtures("one_thread")


def _grid_batch(n: int = 32) -> Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 1, 6, 6), generator=gen).float() / 255


@pytest.mark.parametrize("threat_text", ["linf:0.1", "linf:8/255", "l2:0.5"])
def test_quantisation_stays_in_the_ball_and_close_to_the_input(threat_text: str) -> None:
    threat = ThreatModel.parse(threat_text)
    x = _grid_batch()
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=gen)
    if threat.norm.value == "linf":
        x_adv = (x + threat.eps * noise.sign()).clamp(0, 1)
    else:
        x_adv = (x + threat.eps * noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).clamp(0, 1)
    q = quantize(x_adv, x, threat)
    assert q.dtype == torch.uint8 and q.shape == x.shape
    delta = (dequantize(q) - x).flatten(1)
    if threat.norm.value == "linf":
        assert float(delta.abs().max()) <= threat.eps + 1e-6
        assert float((dequantize(q) - x_adv).abs().max()) <= 0.5 / 255 + 1e-6  # rounding only
    else:
        assert float(delta.norm(dim=1).max()) <= threat.eps * (1 + 1e-6)
        assert float((dequantize(q) - x_adv).flatten(1).norm(dim=1).max()) <= 0.1 * threat.eps


def test_off_grid_inputs_and_wrong_dtypes_are_rejected() -> None:
    threat = ThreatModel.parse("linf:0.1")
    x = _grid_batch() + 0.3 / 255
    with pytest.raises(ValueError, match="8-bit grid"):
        quantize(x, x, threat)
    with pytest.raises(TypeError, match="uint8"):
        dequantize(torch.zeros(3))


def test_craft_and_evaluate(standard_model: nn.Module, data: TrackData) -> None:
    x, y = data.eval_x[:64], data.eval_y[:64]
    attack = ATTACKS.create("fgsm", ThreatModel.parse("linf:0.2"))
    crafted = craft(attack, standard_model, x, y, torch.Generator())
    assert crafted.dtype == torch.uint8
    assert float((dequantize(crafted) - x).abs().max()) <= 0.2 + 1e-6
    correct = transfer_correct(standard_model, crafted, y, batch_size=20)
    with torch.no_grad():
        assert torch.equal(correct, standard_model(dequantize(crafted)).argmax(1) == y)
        clean = (standard_model(x).argmax(1) == y).float().mean()
    assert correct.float().mean() < clean - 0.3  # white-box FGSM at 0.2 hurts a standard model


# --------------------------------------------------------------- the crafting protocol on a toy linear pair
TOY_EPS_TEXT = "16/255"  # the ℓ∞ corner x ± ε is on the 8-bit grid
TOY_EPS = 16 / 255


def _toy_pair(n: int = 400, d: int = 16) -> tuple[Tensor, Tensor, nn.Linear, nn.Linear]:
    """Images on the 8-bit grid in [0.3, 0.7] (so x ± ε never leaves [0, 1]), labels from a linear rule,
    and two linear classifiers (source, target) that are noisy copies of it with different noise."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(77, 179, (n, 1, 4, d // 4), generator=gen).float() / 255
    rule = torch.randn(d, generator=gen)
    margin = (x.flatten(1) - 0.5) @ rule
    y = (margin > 0).long()

    def noisy(scale: float) -> nn.Linear:
        v = rule + scale * torch.randn(d, generator=gen)
        model = nn.Linear(d, 2)
        with torch.no_grad():
            model.weight.copy_(torch.stack([-v / 2, v / 2]))
            model.bias.copy_(torch.stack([v.sum() / 4, -v.sum() / 4]))  # the boundary passes through x = 0.5
        return model

    return x, y, noisy(0.6), noisy(0.6)


class _Flat(nn.Module):
    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


def _target_accuracy(target: nn.Module, images: Tensor, y: Tensor) -> float:
    return float(transfer_correct(target, images, y).float().mean())


def test_transfer_crafting_uses_the_full_budget_final_iterate_on_every_image(track: Track) -> None:
    """On a linear pair, full-budget ℓ∞ PGD ends every image at the loss-maximising corner
    x − ε·sign(v)·(2y − 1) of the source's weight difference v: the target's accuracy there is known in closed
    form. The craft stage's PGD (``craft_plan``'s kwargs through :func:`craft`) must reproduce it; the old
    protocol (early stop, only the images the source classifies correctly) reads markedly higher."""
    x, y, source_lin, target_lin = _toy_pair()
    source, target = _Flat(source_lin), _Flat(target_lin)
    threat = ThreatModel.parse(f"linf:{TOY_EPS_TEXT}")
    settings = CraftStage().settings(track, quick=False)
    plan = craft_plan(track, settings)
    assert all(kw["early_stop"] is False for _, name, _, kw in plan if name in ("pgd", "tgsm"))  # iterative ones
    (pgd_kwargs,) = [kw for _, name, _, kw in plan if name == "pgd"]
    assert pgd_kwargs["steps"] * pgd_kwargs["step_size"] >= 2 * TOY_EPS  # enough to reach the corner from anywhere

    v = (source_lin.weight[1] - source_lin.weight[0]).detach()
    corner = x - TOY_EPS * v.sign().view_as(x[0]) * (2 * y - 1).view(-1, 1, 1, 1).float()
    expected = _target_accuracy(target, quantize(corner, x, threat), y)

    crafted = craft(ATTACKS.create("pgd", threat, **pgd_kwargs), source, x, y, torch.Generator().manual_seed(0))
    full_every = _target_accuracy(target, crafted, y)
    assert full_every == pytest.approx(expected, abs=1e-9)

    def old(early_stop: bool) -> float:
        attack = ATTACKS.create("pgd", threat, **{**pgd_kwargs, "early_stop": early_stop})
        x_adv = attack(source, x, y, generator=torch.Generator().manual_seed(0))  # correct-only (the default)
        return _target_accuracy(target, quantize(x_adv, x, threat), y)

    early_correct_only, full_correct_only = old(True), old(False)
    with torch.no_grad():
        source_clean = float((source(x).argmax(1) == y).float().mean())
    assert source_clean < 1.0  # some images are misclassified by the source: correct-only leaves them clean
    assert early_correct_only > full_correct_only + 0.15  # early-stopped examples barely cross the source boundary
    assert full_correct_only > full_every + 0.03  # clean images shown to the target count as resisted


def test_every_image_perturbs_points_the_model_already_misclassifies() -> None:
    """``every_image`` hands the misclassified points to the attack too; by default they are returned as is."""
    x, y, source_lin, _ = _toy_pair(n=64)
    source = _Flat(source_lin)
    with torch.no_grad():
        wrong = source(x).argmax(1) != y
    assert bool(wrong.any())
    attack = ATTACKS.create("fgsm", ThreatModel.parse(f"linf:{TOY_EPS_TEXT}"))
    default = attack.perturb(source, x, y, generator=torch.Generator())
    every = attack.perturb(source, x, y, generator=torch.Generator(), every_image=True)
    assert torch.equal(default.x_adv[wrong], x[wrong])
    assert float((every.x_adv[wrong] - x[wrong]).abs().amax()) == pytest.approx(TOY_EPS, abs=1e-6)
    with torch.no_grad():
        assert torch.equal(every.success, source(every.x_adv).argmax(1) != y)


# --------------------------------------------------------------- a clean mistake is never transfer-robust
LEVELS = (40, 80, 120, 160, 200)  # one constant grey image per level: 40 levels apart, more than 2ε = 32


class _Memory(nn.Module):
    """A target that knows every image's class (the nearest level's) but gets image ``wrong`` wrong when it is
    shown clean: any crafted example of it (within ε = 16 levels, never closer to another level) it gets right."""

    def __init__(self, y: Tensor, wrong: int) -> None:
        super().__init__()
        self.y, self.wrong = y, wrong

    def forward(self, z: Tensor) -> Tensor:
        grey = z.flatten(1) * 255
        j = ((grey.mean(1) - LEVELS[0]) / 40).round().long().clamp(0, len(LEVELS) - 1)
        label = self.y[j].clone()
        clean = (grey - torch.tensor(LEVELS, dtype=grey.dtype)[j].view(-1, 1)).abs().amax(1) < 0.5
        flip = clean & (j == self.wrong)
        label[flip] = 1 - label[flip]
        return 5.0 * nn.functional.one_hot(label, 2).float()


@pytest.mark.parametrize(
    ("attack", "kwargs"),
    [
        ("fgsm", {}),
        ("tgsm", {"steps": 1, "early_stop": False}),
        ("pgd", {"steps": 10, "step_size": 0.01, "random_start": True, "early_stop": False}),
    ],
)
def test_a_transfer_vector_counts_a_clean_mistake_of_the_target_as_not_robust(
    attack: str, kwargs: dict[str, Any]
) -> None:
    x = torch.stack([torch.full((1, 4, 4), level / 255) for level in LEVELS])
    y = torch.tensor([0, 1, 0, 1, 0])
    wrong = 2
    gen = torch.Generator().manual_seed(0)
    source = _Flat(nn.Linear(16, 2))
    with torch.no_grad():
        source.linear.weight.copy_(torch.randn(2, 16, generator=gen))
    target = _Memory(y, wrong)
    threat = ThreatModel.parse(f"linf:{TOY_EPS_TEXT}")
    crafted = craft(ATTACKS.create(attack, threat, **kwargs), source, x, y, torch.Generator().manual_seed(1))
    label = f"{attack}@{TOY_EPS:g}"
    # the target gets every crafted example right, the clean mistake included: counted by correctness alone it
    # would be "robust"
    assert transfer_correct(target, crafted, y).tolist() == [True] * 5
    with torch.no_grad():
        assert (target(x).argmax(1) == y).tolist() == [True, True, False, True, True]

    ctx = SimpleNamespace(
        dependency=lambda name: SimpleNamespace(
            details={"n": 5, "labels": [label], "headline": label}, tensors={label: crafted}
        ),
        model=lambda: target,
        eval_batch=lambda n: (x[:n], y[:n]),
        device=torch.device("cpu"),
        settings={"surrogates": ["standard"]},
        track=SimpleNamespace(num_classes=2, threat=SimpleNamespace(eps=TOY_EPS)),
    )
    out = TransferStage().run(ctx)
    assert out.details["robust"][label] == [1, 1, 0, 1, 1]
    assert out.details["accuracy"][label] == pytest.approx(0.8)
    assert out.details["clean_accuracy"] == pytest.approx(0.8)
