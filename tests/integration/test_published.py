"""Published checkpoints: a run loads a baseline whose published checkpoint matches its recipe instead of training
it, and retrains (saying why) when the recipe or the weights' sha256 differ, or when asked to."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.frontends.api import load_baseline, run_track
from bench.plugins import DEFENSES
from bench.track import Track, TrainingBudget, load_track
from tests.conftest import pinned_threads

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full (non-quick) protocol with a training budget of 0.2 epochs, so published checkpoints (never made
    by quick runs) can be tested in seconds."""
    original = Track.training_budget

    def tiny(self: Track, quick: bool = False) -> TrainingBudget:
        return dataclasses.replace(original(self, quick=quick), epochs=0.2)

    monkeypatch.setattr(Track, "training_budget", tiny)


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the defenses whose ``fit`` ran (training happened)."""
    calls: list[str] = []
    cls = DEFENSES.get("standard")
    original = cls.fit

    def counting(self: Any, model: Any, fit: Any) -> Any:
        calls.append(self.name)
        return original(self, model, fit)

    monkeypatch.setattr(cls, "fit", counting)
    return calls


def _run(tmp_path: Path, store: str, checkpoints: Path, **kwargs: Any) -> dict[str, Any]:
    with pinned_threads(1):
        report = run_track(
            "mnist5k",
            entries=["standard"],
            store=tmp_path / store,
            results_root=tmp_path / f"results-{store}",
            device="cpu",
            stages=["clean"],
            executor_options={"show_progress": False},
            checkpoints=checkpoints,
            **kwargs,
        )
    assert report.counts[2] == 0
    return json.loads(report.paths[0].read_text())


@pytest.mark.usefixtures("tiny_budget")
def test_a_matching_published_checkpoint_is_loaded_not_trained(tmp_path: Path, fits: list[str]) -> None:
    folder = tmp_path / "checkpoints"
    first = _run(tmp_path, "a", folder, publish_checkpoints=True)
    assert fits == ["standard"]
    meta = json.loads((folder / "mnist5k" / "standard.json").read_text())
    weights = (folder / "mnist5k" / "standard.safetensors").read_bytes()
    assert meta["sha256"] == first["details"]["train"]["sha256"] and meta["size"] == len(weights)
    assert meta["trained"]["steps"] == first["details"]["train"]["steps"] == 13  # ceil(0.2 * 4000 / 64)
    assert meta["trained"]["samples_seen"] == 13 * 64

    second = _run(tmp_path, "b", folder)  # a fresh store: only the published checkpoint can spare the training
    assert fits == ["standard"], "the published checkpoint was trained again"
    assert second["details"]["train"]["published"] == {
        "file": "mnist5k/standard.safetensors",
        "sha256": meta["sha256"],
        "size": len(weights),
    }
    assert second["scores"] == first["scores"]
    assert second["details"]["clean"]["correct"] == first["details"]["clean"]["correct"]

    model = load_baseline("mnist5k", "standard", checkpoints=folder)
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 10)

    _run(tmp_path, "c", folder, retrain=True)
    assert fits == ["standard", "standard"]


@pytest.mark.usefixtures("tiny_budget")
@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("recipe", "trained under another recipe (differs in seed)"),
        ("weights", "sha256 or size differs from the published"),
        ("format", "is not a valid published checkpoint"),
    ],
)
def test_a_mismatching_checkpoint_is_retrained_with_the_reason(
    tmp_path: Path, fits: list[str], caplog: pytest.LogCaptureFixture, tamper: str, reason: str
) -> None:
    folder = tmp_path / "checkpoints"
    _run(tmp_path, "a", folder, publish_checkpoints=True)
    meta_path, weights_path = folder / "mnist5k" / "standard.json", folder / "mnist5k" / "standard.safetensors"
    meta = json.loads(meta_path.read_text())
    if tamper == "recipe":
        meta["recipe"]["seed"] = 1
        meta_path.write_text(json.dumps(meta))
    elif tamper == "weights":
        data = bytearray(weights_path.read_bytes())
        data[-1] ^= 1
        weights_path.write_bytes(bytes(data))
    else:
        meta["extra"] = "field"
        meta_path.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="bench.stages.train"):
        record = _run(tmp_path, "b", folder)
    assert fits == ["standard", "standard"]
    assert "published" not in record["details"]["train"]
    assert any(reason in r.getMessage() and "training it" in r.getMessage() for r in caplog.records), [
        r.getMessage() for r in caplog.records
    ]


def test_bf16_training_on_cpu_is_deterministic_and_scores_like_fp32(data: Any) -> None:
    """Track budgets with ``amp = true`` train under bfloat16 autocast on the CPU: the same seed gives the same
    weights, and the model scores within noise of the float32 one (small budget, 800 evaluation images)."""
    from bench.checkpoint import sha256_bytes, state_dict_bytes
    from bench.running.training import FitContext, seeded

    track = load_track("mnist5k")
    x, y = data.eval_batch(None)

    def train(amp: bool) -> tuple[str, float]:
        budget = dataclasses.replace(track.training_budget(), epochs=1, amp=amp)
        defense = DEFENSES.create("standard", track, augment="none")
        with pinned_threads(1), seeded(track.seed):
            model = defense.build_model()
        fit = FitContext(track=track, train_x=data.train_x, train_y=data.train_y, budget=budget, seed=track.seed)
        with pinned_threads(1):
            model = defense.fit(model, fit)
            with torch.no_grad():
                accuracy = float((model(x).argmax(1) == y).float().mean())
        return sha256_bytes(state_dict_bytes(model)), accuracy

    bf16_a, bf16_b, fp32 = train(True), train(True), train(False)
    assert bf16_a == bf16_b
    assert bf16_a[0] != fp32[0]  # autocast really ran in bfloat16
    assert abs(bf16_a[1] - fp32[1]) < 0.03, (bf16_a, fp32)
    assert fp32[1] > 0.85
