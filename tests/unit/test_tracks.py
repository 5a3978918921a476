"""Tracks as data: parsing, validation errors, subset hash stability, missing data errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import (
    DatasetUnavailableError,
    indices_sha256,
    load_track_data,
    seeded_subset,
    stratified_split,
)
from bench.registry import UnknownNameError
from bench.track import TRACKS, TrackError, load_track, parse_track
from bench.types import Norm, ThreatModel


def test_mnist5k_split_is_the_published_one(track, data) -> None:  # type: ignore[no-untyped-def]
    assert track.version == "3.0"
    assert data.train_x.shape == (4000, 1, 28, 28)
    assert data.eval_x.shape == (800, 1, 28, 28)  # published; the other 200 of the eval split are held out
    assert data.holdout_images.shape == (200, 1, 28, 28) and data.holdout_images.dtype == torch.uint8
    assert float(data.train_x.min()) >= 0.0 and float(data.train_x.max()) <= 1.0
    # stratified: 100 images per class in eval (published + held out), 400 per class in train
    both = np.concatenate([data.eval_y.numpy(), data.holdout_y.numpy()])
    assert np.bincount(both).tolist() == [100] * 10
    assert not set(data.eval_indices) & set(data.holdout_indices)
    assert np.bincount(data.train_y.numpy()).tolist() == [400] * 10
    # the subset hash is the published one and is re-derivable from the index list
    assert data.subset_sha256 == track.eval_subset.sha256
    assert indices_sha256(data.eval_indices) == "2e5bb8040222b069be41674d904856cd8c344c9c8da33cb050cdcb1376b3ad0a"
    # version 1.0 published all 1,000 in the same seeded order: 2.0's published subset is its prefix
    everything = np.concatenate([data.eval_indices, data.holdout_indices])
    assert indices_sha256(everything) == "b593886e1294e5a1ddf25614ebaf5312fde44eb753669259ec39dbb03f8d74f0"


def test_holdout_draws_are_reproducible_from_their_seed(data) -> None:  # type: ignore[no-untyped-def]
    x1, y1, i1 = data.holdout_batch(50, seed=123)
    x2, y2, i2 = data.holdout_batch(50, seed=123)
    assert np.array_equal(i1, i2) and torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not np.array_equal(i1, data.holdout_batch(50, seed=124)[2])
    assert len(data.holdout_batch(10_000, seed=0)[2]) == 200  # never more than the pool
    assert float(x1.max()) <= 1.0 and x1.dtype == torch.float32


def test_split_is_disjoint_and_seed_dependent() -> None:
    labels = np.repeat(np.arange(10), 50)
    tr, ev = stratified_split(labels, 100, seed=0)
    assert len(set(tr) & set(ev)) == 0 and len(tr) + len(ev) == 500
    _, ev2 = stratified_split(labels, 100, seed=1)
    assert not np.array_equal(ev, ev2)
    assert np.array_equal(ev, stratified_split(labels, 100, seed=0)[1])
    with pytest.raises(ValueError, match="not divisible"):
        stratified_split(labels, 105, seed=0)


@pytest.mark.parametrize("name", sorted(TRACKS.names()))
def test_every_track_parses_and_has_consistent_fields(name: str) -> None:
    t = load_track(name)
    assert len(t.class_names) == t.num_classes
    assert t.threat.eps > 0
    assert len(t.eval_subset.sha256) == 64
    assert t.stage_settings("clean")["n"] <= t.eval_subset.count
    assert t.stage_settings("clean", quick=True)["n"] <= t.stage_settings("clean")["n"]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_official_subset_hash_is_derivable_without_data(name: str) -> None:
    t = load_track(name)
    assert indices_sha256(seeded_subset(10000, t.eval_subset.count, t.eval_subset.seed)) == t.eval_subset.sha256


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_official_holdout_pool_is_the_rest_of_the_test_set(name: str) -> None:
    from bench.data import Pool, split_indices

    t = load_track(name)
    c, h, w = t.input_shape
    labels = np.arange(10000, dtype=np.int64) % t.num_classes
    pool = Pool(np.zeros((1, c, h, w), np.uint8), labels[:1], np.zeros((10000, c, h, w), np.uint8), labels)
    _, part, published, held = split_indices(t, pool)
    assert part == "test" and indices_sha256(published) == t.eval_subset.sha256
    assert not set(published) & set(held) and len(published) + len(held) == 10000


def test_full_tracks_load_from_shared_data(shared_data_root: Path) -> None:
    d = load_track_data(load_track("mnist"), shared_data_root)
    assert d.train_x.shape == (60000, 1, 28, 28) and d.eval_x.shape == (1000, 1, 28, 28)
    assert abs(float(d.train_x.mean()) - 0.1307) < 1e-3  # the README's verified statistic


def test_missing_dataset_root_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBEX_DATA", raising=False)
    with pytest.raises(DatasetUnavailableError, match=r"MNIST not found: looked in .*MNIST/raw.*--data-root"):
        load_track_data(load_track("mnist"), tmp_path)
    with pytest.raises(DatasetUnavailableError, match="neither --data-root nor \\$ROBEX_DATA is set"):
        load_track_data(load_track("fashion-mnist"), None)
    with pytest.raises(DatasetUnavailableError, match="CIFAR-10 not found"):
        load_track_data(load_track("cifar10"), tmp_path)


def test_unknown_track_suggests() -> None:
    with pytest.raises(UnknownNameError, match="did you mean: mnist5k"):
        load_track("mnist5")


def test_threat_model_parsing() -> None:
    t = ThreatModel.parse("linf:8/255")
    assert t.norm is Norm.LINF and t.eps == pytest.approx(8 / 255) and str(t) == "linf:8/255"
    assert ThreatModel.parse("L2:0.5").norm is Norm.L2
    for bad in ("linf", "l3:0.3", "linf:-1", "linf:abc"):
        with pytest.raises(ValueError, match="threat model"):
            ThreatModel.parse(bad)


def test_malformed_track_names_the_field() -> None:
    text = (Path(__file__).resolve().parents[2] / "bench" / "tracks" / "mnist5k.toml").read_text()
    with pytest.raises(TrackError, match="missing field 'num_classes'"):
        parse_track(text.replace("num_classes = 10\n", ""))
    with pytest.raises(TrackError, match="field 'threat_model'"):
        parse_track(text.replace('threat_model = "linf:0.3"', 'threat_model = "linf:zero"'))
    with pytest.raises(TrackError, match="not valid TOML"):
        parse_track(text + "\n[[[")


def test_changed_subset_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    t = load_track("mnist5k")
    bad = dataclasses.replace(t, eval_subset=dataclasses.replace(t.eval_subset, seed=2))
    with pytest.raises(ValueError, match="differs from the published"):
        load_track_data(bad)
