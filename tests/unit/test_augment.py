"""Training-time augmentation: exact shifts with zero fill, seeded draws, every registered name usable from a
track's ``[training] augment``, and bad specs rejected with the registered names."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.running.augment import AUGMENTATIONS, parse_augmentation, translate
from bench.running.training import FitContext
from bench.track import load_track


def test_translate_moves_every_pixel_and_fills_with_zeros() -> None:
    x = torch.rand(3, 2, 6, 5)
    shifts = torch.tensor([[0, 0], [2, -1], [-3, 1]])
    out = translate(x, shifts)
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1, :, 2:, :4], x[1, :, :4, 1:]) and out[1, :, :2].abs().sum() == 0
    assert out[1, :, :, 4].abs().sum() == 0
    assert torch.equal(out[2, :, :3, 1:], x[2, :, 3:, :4]) and out[2, :, 3:].abs().sum() == 0
    assert out[2, :, :, 0].abs().sum() == 0


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_augmentation_keeps_shape_range_and_is_seeded(name: str) -> None:
    aug = parse_augmentation(f"{name}:2" if name != "none" else name)
    x = torch.rand(16, 1, 28, 28)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_translate_draws_every_shift_in_range() -> None:
    aug = parse_augmentation("translate:1")
    x = torch.zeros(400, 1, 5, 5)
    x[:, :, 2, 2] = 1  # a single centred pixel: its new position is the shift
    out = aug(x, torch.Generator().manual_seed(0))
    positions = {tuple(int(v) for v in torch.nonzero(img[0])[0]) for img in out}
    assert positions == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}


@pytest.mark.parametrize("spec", ["warp", "translate:x", "translate:0", "translate"])
def test_bad_specs_are_refused_with_a_reason(spec: str) -> None:
    with pytest.raises(Exception, match=r"augmentation|translate|pixels"):
        parse_augmentation(spec)


def test_the_engine_augments_every_batch_with_its_own_generator() -> None:
    track = load_track("mnist5k")
    x = torch.zeros(32, 1, 28, 28)
    x[:, :, 2:-2, 2:-2] = torch.rand(32, 1, 24, 24)  # a 2-pixel empty border, as MNIST digits have
    y = torch.arange(32) % 10
    budget = dataclasses.replace(track.training, batch_size=8, augment="translate:2")
    fit = FitContext(track=track, train_x=x, train_y=y, budget=budget, seed=0)
    plain = FitContext(track=track, train_x=x, train_y=y, budget=dataclasses.replace(budget, augment="none"), seed=0)
    got = list(fit.batches(torch.Generator().manual_seed(1), 4))
    again = list(fit.batches(torch.Generator().manual_seed(1), 4))
    raw = list(plain.batches(torch.Generator().manual_seed(1), 4))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(got, again, strict=True))
    # the same images and labels as without augmentation, moved: shifts within the empty border keep every pixel
    assert torch.equal(got[0][2], raw[0][2])
    assert not torch.equal(got[0][1], raw[0][1])
    assert torch.allclose(got[0][1].sum(dim=(1, 2, 3)), raw[0][1].sum(dim=(1, 2, 3)))


def test_a_defense_may_choose_its_augmentation_and_the_record_says_which() -> None:
    from bench.hyperparameters import HyperparameterError
    from bench.plugins import DEFENSES

    track = load_track("mnist5k")
    assert DEFENSES.create("standard", track).hp["augment"] == "translate:2"  # mnist5k's track default
    with pytest.raises(HyperparameterError, match="augment"):
        DEFENSES.create("standard", track, augment="warp:2")
    x, y = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    budget = dataclasses.replace(track.training, batch_size=8, epochs=1.0)
    fit = FitContext(track=track, train_x=x, train_y=y, budget=budget, seed=0)
    DEFENSES.create("standard", track, augment="translate:1").fit(DEFENSES.create("standard", track).build_model(), fit)
    assert fit.runs[-1]["augment"] == "translate:1" and fit.runs[-1]["steps"] == 2
