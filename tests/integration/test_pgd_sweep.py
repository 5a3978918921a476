"""The ``pgd_sweep`` stage (Boopathy et al.'s PGD past the track's ε): each point equals a direct PGD run with
the same settings on the same images, and the record carries the curve the claims page reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from bench.data import load_track_data
from bench.frontends.api import load_model, run_track
from bench.plugins import ATTACKS
from bench.results.records import read_record
from bench.stages.pgd_sweep import default_grid
from bench.track import load_track

pytestmark = pytest.mark.usefixtures("one_thread")


def test_default_grid_is_boopathys_mnist_grid() -> None:
    assert default_grid(0.3) == [0.05, 0.1, 0.2, 0.3, 0.35, 0.4]
    assert default_grid(8 / 255)[3] == pytest.approx(8 / 255, abs=1e-6)


def test_sweep_points_equal_direct_pgd_runs(quick_store: Path, tmp_path: Path) -> None:
    run_track(
        "mnist5k",
        entries=["standard"],
        store=quick_store,
        results_root=tmp_path,
        quick=True,
        device="cpu",
        stages=["pgd_sweep"],
        executor_options={"show_progress": False},
    )
    path = tmp_path / "mnist5k" / "standard.quick.json"
    details = read_record(path).details["pgd_sweep"]
    track = load_track("mnist5k")
    settings = track.stage_settings("pgd_sweep", quick=True)
    assert [row["eps"] for row in details["table"]] == settings["eps_grid"]
    assert details["curves"]["pgd_sweep"]["x"] == settings["eps_grid"]
    assert details["random_start"] is False and details["n"] == settings["n"]

    model = load_model(path, store=quick_store)
    x, y = load_track_data(track).eval_batch(settings["n"])
    for row in details["table"]:
        attack = ATTACKS.create(
            "pgd",
            dataclasses.replace(track.threat, eps=row["eps"], text=""),
            steps=settings["steps"],
            step_size=settings["step_size"],
            random_start=False,
        )
        robust = ~attack.perturb(model, x, y, generator=torch.Generator()).success
        assert row["accuracy"] == pytest.approx(float(robust.float().mean()), abs=1e-12)
        assert details["robust"][repr(row["eps"])] == robust.int().tolist()
        assert row["ci_low"] <= row["accuracy"] <= row["ci_high"]
    accuracies = [row["accuracy"] for row in details["table"]]
    assert accuracies[0] >= accuracies[-1]
