"""Every registered defense honours the Defense contract (parametrized over ``DEFENSES``: a new defense is
tested with no new test code): complete card, valid defaults per track, logits (N, K) — not
probabilities — from [0, 1] inputs, and bit-identical weights when trained twice with the same seed."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bench.checkpoint import sha256_bytes, state_dict_bytes
from bench.data import TrackData
from bench.manifest import load_manifest
from bench.plugins import DEFENSES
from bench.protocols import Defense
from bench.running.training import FitContext, seeded
from bench.track import TRACKS, Track

NAMES = DEFENSES.names()
TINY = 64  # train on the first 64 images, batch 32, one epoch: 2 optimiser steps. Step 0 falls in every
# warm-up's ε = 0 phase and step 1 after it, so both code paths of each objective run.


def _train(track: Track, data: TrackData, name: str, **hp: Any) -> nn.Module:
    defense = DEFENSES.create(name, track, **hp)
    with seeded(track.seed):
        model = defense.build_model()
    budget = dataclasses.replace(track.training, epochs=1, batch_size=TINY // 2)
    fit = FitContext(
        track=track, train_x=data.train_x[:TINY], train_y=data.train_y[:TINY], budget=budget, seed=track.seed
    )
    return defense.wrap(defense.fit(model, fit)).eval()


@pytest.fixture(scope="module")
def trained_twice(track: Track, data: TrackData) -> dict[str, tuple[nn.Module, str, str]]:
    """Each defense trained twice on mnist5k (tiny budget): (model, sha256 of run 1, sha256 of run 2)."""
    out = {}
    for name in NAMES:
        a = _train(track, data, name)
        b = _train(track, data, name)
        out[name] = (a, sha256_bytes(state_dict_bytes(a)), sha256_bytes(state_dict_bytes(b)))
    return out


def test_registry_holds_the_issue_defenses() -> None:
    expected = {
        "standard",
        "pgd_at",
        "fgsm_at",
        "trades",
        "distillation",
        "input_gradient",
        "activation_sensitivity",
        "interpretability_aware",
        "lipschitz",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_card_is_complete(name: str) -> None:
    cls = DEFENSES.get(name)
    card = cls.card
    for field in ("title", "authors", "venue", "summary", "fidelity"):
        assert getattr(card, field).strip(), f"{name}: card.{field} is empty"
    assert card.url.startswith("https://"), f"{name}: card.url must be an https URL"
    assert 1990 <= card.year <= 2030, f"{name}: card.year {card.year}"
    assert str(card.year) in card.venue, f"{name}: venue {card.venue!r} should name the year {card.year}"
    assert len(card.fidelity) >= 20, f"{name}: say what is exact, scaled or reconstructed"
    if card.reconstructed:
        assert "reconstruct" in card.fidelity.lower(), f"{name}: a reconstruction must say so in its fidelity note"


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_track_defaults_are_valid(name: str, track: Track) -> None:
    cls: type[Defense] = DEFENSES.get(name)
    assert cls.name == name
    for track_name, overrides in cls.track_defaults.items():
        assert track_name in TRACKS.names(), f"{name}: track_defaults for unknown track {track_name!r}"
        unknown = set(overrides) - set(cls.defaults)
        assert not unknown, f"{name}: track_defaults[{track_name!r}] sets unknown hyperparameters {unknown}"
        DEFENSES.create(name, TRACKS.get(track_name))  # constructing validates the merged values
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        DEFENSES.create(name, track, no_such_hyperparameter=1)


@pytest.mark.parametrize("name", NAMES)
def test_logits_from_unit_interval_inputs(
    name: str, track: Track, data: TrackData, trained_twice: dict[str, tuple[nn.Module, str, str]]
) -> None:
    model = trained_twice[name][0]
    x = data.eval_x[:32]
    assert float(x.min()) >= 0.0
    assert float(x.max()) <= 1.0
    with torch.no_grad():
        out = model(x)
    assert out.shape == (32, track.num_classes)
    assert bool(torch.isfinite(out).all())
    # not probabilities: a softmax output has rows in [0, 1] summing to 1 (AutoAttack's softmax check)
    looks_like_probs = bool((out >= 0).all() and (out <= 1).all() and torch.allclose(out.sum(1), torch.ones(32)))
    assert not looks_like_probs, f"{name} returns probabilities, not logits"
    assert not model.training


@pytest.mark.parametrize("name", NAMES)
def test_training_is_deterministic(name: str, trained_twice: dict[str, tuple[nn.Module, str, str]]) -> None:
    _, first, second = trained_twice[name]
    assert first == second, f"{name}: two trainings with the same seed gave different weights"


@pytest.mark.parametrize("name", NAMES)
def test_training_changes_the_weights(
    name: str, track: Track, trained_twice: dict[str, tuple[nn.Module, str, str]]
) -> None:
    defense = DEFENSES.create(name, track)
    with seeded(track.seed):
        initial = sha256_bytes(state_dict_bytes(defense.build_model()))
    assert trained_twice[name][1] != initial


# ------------------------------------------------------------------------------ baseline manifests
MANIFESTS = sorted(Path(str(resources.files("leaderboard") / "entries")).glob("*/*.toml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_baseline_manifest_is_a_valid_recipe(path: Path) -> None:
    manifest = load_manifest(path)
    assert manifest.baseline, f"{path}: baseline manifests set baseline = true"
    assert manifest.track == path.parent.name
    assert manifest.name == path.stem
    assert manifest.defense is not None
    track = TRACKS.get(manifest.track)
    defense = DEFENSES.create(manifest.defense.name, track, **manifest.defense.hyperparameters)
    defense.build_model()  # the architecture the recipe trains exists and accepts its arguments
    if manifest.defense.name != "standard":
        assert manifest.paper_url == defense.card.url


@pytest.mark.parametrize("track_name", ["mnist5k", "mnist", "fashion-mnist"])
def test_every_defense_has_a_baseline_on_the_mnist_tracks(track_name: str) -> None:
    used = {load_manifest(p).defense.name for p in MANIFESTS if p.parent.name == track_name}  # type: ignore[union-attr]
    assert set(NAMES) <= used, f"{track_name}: no baseline manifest for {sorted(set(NAMES) - used)}"
