"""Training engine: same seed → identical weights (sha256); a different seed → different weights."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.checkpoint import (
    CheckpointError,
    check_safetensors_header,
    read_checkpoint,
    save_checkpoint,
    sha256_bytes,
    state_dict_bytes,
)
from bench.plugins import DEFENSES
from bench.running.training import FitContext, TrainingDivergedError, seeded


def _train(track, data, seed: int) -> str:  # type: ignore[no-untyped-def]
    budget = dataclasses.replace(track.training, epochs=0.5)
    defense = DEFENSES.create("standard", track)
    with seeded(seed):
        model = defense.build_model()
    fit = FitContext(track=track, train_x=data.train_x[:1000], train_y=data.train_y[:1000], budget=budget, seed=seed)
    return sha256_bytes(state_dict_bytes(defense.fit(model, fit)))


def test_training_is_deterministic(track, data) -> None:  # type: ignore[no-untyped-def]
    a, b = _train(track, data, 0), _train(track, data, 0)
    assert a == b
    assert _train(track, data, 1) != a


def test_diverging_loss_raises(track, data, untrained_model) -> None:  # type: ignore[no-untyped-def]
    fit = FitContext(
        track=track,
        train_x=data.train_x[:128],
        train_y=data.train_y[:128],
        budget=dataclasses.replace(track.training, epochs=1),
        seed=0,
    )
    with pytest.raises(TrainingDivergedError, match="loss is nan"):
        fit.run(untrained_model, lambda m, x, y, s: m(x).sum() * float("nan"))


def test_checkpoint_round_trip_and_refusals(tmp_path, untrained_model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.safetensors"
    sha = save_checkpoint(untrained_model, path)
    tensors = read_checkpoint(path, sha)
    assert set(tensors) == set(untrained_model.state_dict())
    with pytest.raises(CheckpointError, match="does not match"):
        read_checkpoint(path, "0" * 64)
    pickled = tmp_path / "evil.safetensors"
    torch.save({"w": torch.zeros(1)}, pickled)  # a zip/pickle disguised by its extension
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        read_checkpoint(pickled)
    with pytest.raises(CheckpointError, match="too short"):
        check_safetensors_header(b"\x80\x04", "x")
