"""Shared fixtures: the embedded track, its data, small trained models (session-scoped, deterministic)."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see bench/__init__.py
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.data import TrackData, load_track_data
from bench.models import build_architecture
from bench.plugins import DEFENSES
from bench.running.runner import pinned_threads as runner_pinned_threads
from bench.running.training import FitContext, seeded
from bench.track import Track, load_track

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _reset_prngs() -> None:
    """Every test starts from the same global RNG state (our code takes explicit generators anyway)."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def track() -> Track:
    """The embedded default track."""
    return load_track("mnist5k")


@pytest.fixture(scope="session")
def data(track: Track) -> TrackData:
    """mnist5k's training images and evaluation subset."""
    return load_track_data(track)


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    """``$ROBEX_DATA`` or ``../shared/data``; tests needing full datasets skip with a reason without it."""
    env = os.environ.get("ROBEX_DATA")
    root = Path(env) if env else SHARED_DATA
    if not (root / "MNIST" / "raw").is_dir():
        pytest.skip(reason=f"full datasets (../shared/data) not available: looked in {root}; set ROBEX_DATA")
    return root


@contextmanager
def pinned_threads(threads: int = 1) -> Iterator[None]:
    """Run with a fixed intra-op thread count: a session fixture's floats then depend neither on which test asked
    for it first (some modules run with one thread) nor on the machine's core count."""
    with runner_pinned_threads(threads):
        yield


def train_defense(track: Track, data: TrackData, name: str, epochs: float = 3, **hp: object) -> nn.Module:
    """Train defense ``name`` on mnist5k with a small budget (deterministic)."""
    defense = DEFENSES.create(name, track, **hp)
    with seeded(track.seed):
        model = defense.build_model()
    budget = track.training_budget()
    budget = type(budget)(**{**budget.__dict__, "epochs": epochs})
    fit = FitContext(track=track, train_x=data.train_x, train_y=data.train_y, budget=budget, seed=track.seed)
    return defense.wrap(defense.fit(model, fit)).eval()


@pytest.fixture(scope="session")
def standard_model(track: Track, data: TrackData) -> nn.Module:
    """``standard`` trained 3 epochs on mnist5k (≈ 90% clean accuracy, not robust), on one thread whichever
    test asks first."""
    with pinned_threads(1):
        return train_defense(track, data, "standard", epochs=3)


@pytest.fixture
def untrained_model(track: Track) -> nn.Module:
    """A randomly initialised reference architecture (seeded)."""
    with seeded(0):
        return build_architecture(track.architecture, track).eval()


@pytest.fixture(scope="session")
def quick_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cell store holding the ``standard`` baseline's quick-mode train/clean/pgd cells on mnist5k (runs that
    use it for those cells recompute nothing; tests may add cells of their own entries)."""
    store = tmp_path_factory.mktemp("quick-store")
    with pinned_threads(1):
        _quick_run(store, tmp_path_factory.mktemp("quick-results"))
    return store


def _quick_run(store: Path, results: Path) -> None:
    from bench.frontends.api import run_track

    run_track(
        "mnist5k",
        entries=["standard"],
        store=store,
        results_root=results,
        quick=True,
        device="cpu",
        stages=["clean", "pgd"],
        executor_options={"show_progress": False},
    )


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module of tiny-model tests: as fast on an idle machine, and many times
    faster when other jobs share the cores (two spinning OpenMP threads then wait on each other)."""
    with pinned_threads(1):
        yield
