"""Transfer crafting: 8-bit quantisation that never leaves the threat model, and forward-only evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from attacks.transfer import craft, dequantize, quantize, transfer_correct
from bench.data import TrackData
from bench.plugins import ATTACKS
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
