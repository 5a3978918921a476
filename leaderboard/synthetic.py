"""Synthetic records for the renderer's tests, benchmark and demos (deterministic from a seed).

They follow the record ``details`` conventions (per-image 0/1 results, curves, galleries, tables, the
transfer section) with made-up numbers, and come with their own score metadata
(:data:`SYNTHETIC_SPECS`) so output does not depend on which plug-ins are installed.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from bench.results import Category, ScoreSpec, Unit
from bench.results.records import EntryInfo, FlagRecord, Provenance, Record, ScoreRecord

SYNTHETIC_SPECS: tuple[ScoreSpec, ...] = (
    ScoreSpec("clean_accuracy", "Clean acc.", True, Unit.FRACTION, Category.ACCURACY, "Top-1 accuracy.", True, 10),
    ScoreSpec("pgd_accuracy", "PGD acc.", True, Unit.FRACTION, Category.ROBUSTNESS, "Accuracy under PGD.", True, 25),
    ScoreSpec(
        "autoattack_accuracy", "AutoAttack acc.", True, Unit.FRACTION, Category.ROBUSTNESS, "AA accuracy.", True, 30
    ),
    ScoreSpec("ara_attack", "ARA", True, Unit.RMSE, Category.ARA, "Accuracy-robustness area (Woods et al.).", True, 50),
    ScoreSpec(
        "deletion_auc", "Deletion AUC", False, Unit.SCORE, Category.FIDELITY, "Area under the deletion curve.", True, 60
    ),
    ScoreSpec(
        "explanation_topk", "Top-k overlap", True, Unit.SCORE, Category.EXPLANATION_ROBUSTNESS, "Top-k.", False, 70
    ),
)

HOSTILE_TITLE = '<script>alert("pwned")</script> O\'Brien & "Co" {{ 7*7 }} {% raw %}'


def tiny_png(pixels: np.ndarray) -> bytes:
    """A grayscale 8-bit PNG of ``pixels`` (H×W uint8), encoded with zlib only (deterministic bytes).

    >>> tiny_png(np.zeros((2, 2), dtype=np.uint8))[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    h, w = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(pixels[i].astype(np.uint8).tolist()) for i in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def _png_b64(rng: np.random.Generator, size: int = 28) -> str:
    return base64.b64encode(tiny_png(rng.integers(0, 256, size=(size, size)).astype(np.uint8))).decode("ascii")


def _score(values: np.ndarray) -> ScoreRecord:
    n = len(values)
    p = float(values.mean())
    half = 1.96 * float(np.sqrt(max(p * (1 - p), 1e-12) / n))
    return ScoreRecord(value=p, n=n, ci_low=max(0.0, p - half), ci_high=min(1.0, p + half))


def synthetic_record(
    name: str,
    seed: int,
    *,
    track: str = "toy",
    names: Sequence[str] = (),
    n: int = 200,
    title: str | None = None,
    quick: bool = False,
    flags: Sequence[FlagRecord] = (),
    status: str = "ok",
    baseline: bool = False,
    with_gallery: bool = True,
) -> Record:
    """A complete record with made-up but consistent numbers (robust ≤ clean per image)."""
    rng = np.random.default_rng(seed)
    clean_p = 0.6 + 0.39 * rng.random()
    correct = (rng.random(n) < clean_p).astype(int)
    pgd = correct * (rng.random(n) < rng.random()).astype(int)
    aa = pgd * (rng.random(n) < 0.9).astype(int)
    radii = np.sort(rng.random(n) * 0.2 * correct)
    eps = np.linspace(0, 0.3, 16)
    curve_ara = [float((radii > e).mean()) for e in eps]
    ara = float(np.trapezoid(np.maximum(0, np.asarray(curve_ara) - 0.1), eps))
    deletion = 0.1 + 0.3 * rng.random()
    others = [o for o in names if o != name]
    details: dict[str, object] = {
        "clean": {"correct": correct.tolist()},
        "pgd": {"robust": pgd.tolist(), "eps": 0.3, "steps": 40},
        "autoattack": {
            "robust": aa.tolist(),
            "per_attack": {"apgd-ce": float(pgd.mean()), "apgd-t": float(aa.mean())},
            "curves": {
                "accuracy_vs_eps": {
                    "title": "Accuracy vs ε",
                    "x": eps.tolist(),
                    "y": [float(v) for v in np.linspace(clean_p, aa.mean() * 0.5, 16)],
                    "xlabel": "ε (ℓ∞)",
                    "ylabel": "accuracy",
                }
            },
        },
        "ara": {
            "chance": 0.1,
            "num_classes": 10,
            "curves": {
                "attack": {
                    "title": "Attack ARA: A(ε) = fraction of images with minimal RMSE radius > ε (a long title)",
                    "x": eps.tolist(),
                    "y": curve_ara,
                    "xlabel": "ε (RMSE)",
                    "ylabel": "fraction of images with minimal radius above ε",
                }
            },
            "table": [
                {"radius": "median", "value": float(np.median(radii))},
                {"radius": "max", "value": float(radii[-1])},
            ],
        },
        "transfer": {
            "as_target": {o: float(round(rng.random(), 4)) for o in others},
            "as_source": {o: float(round(rng.random(), 4)) for o in others},
            "attack": "fgsm",
            "eps": 0.3,
        },
    }
    if with_gallery:
        details["explain"] = {
            "gallery": [
                {
                    "caption": "Saliency on the first eval images",
                    "images": [{"label": f"img {i}", "png": _png_b64(rng)} for i in range(4)],
                    "scale": {"colormap": "inferno", "low": "0", "high": "max", "meaning": "relevance, per image"},
                }
            ]
        }
    scores = {
        "clean_accuracy": _score(correct.astype(float)),
        "pgd_accuracy": _score(pgd.astype(float)),
        "autoattack_accuracy": _score(aa.astype(float)),
        "ara_attack": ScoreRecord(value=ara, n=n),
        "deletion_auc": ScoreRecord(value=deletion, n=n, ci_low=deletion - 0.02, ci_high=deletion + 0.02),
        "explanation_topk": ScoreRecord(value=float(rng.random()), n=n),
    }
    return Record(
        track=track,
        entry=EntryInfo(
            name=name,
            title=title or f"Synthetic defense {name}",
            authors="A. Author, B. Author",
            paper_url="https://example.org/paper",
            venue="Synthetic 2025",
            license="MIT",
            description="A synthetic record for tests.",
            kind="recipe",
            defense="standard",
            hyperparameters={"eps": 0.3, "steps": 7},
            architecture="small_cnn",
            card={"title": "A card", "url": "https://example.org/card", "summary": "Made up."},
            claimed={"clean_accuracy": 0.95},
            baseline=baseline,
        ),
        quick=quick,
        status=status,  # type: ignore[arg-type]
        errors={"manipulate": "RuntimeError: synthetic failure"} if status != "ok" else {},
        scores=scores,
        details=details,
        flags=list(flags),
        provenance=Provenance(
            seed=0,
            track_version="1.0",
            track_sha256="0" * 64,
            subset_sha256="1" * 64,
            checkpoint_sha256=f"{seed:064x}",
            packages={"python": "3.11", "torch": "2.x"},
            device="cpu (x86_64, linux, 2 threads)",
            wall_time_s={"train": 1.5, "clean": 0.1},
            cell_keys={"train": "a" * 64, "clean": "b" * 64},
            images={"clean": n, "pgd": n},
        ),
    )


def synthetic_records(count: int, *, seed: int = 0, track: str = "toy", n: int = 200) -> list[Record]:
    """``count`` synthetic records on one track; every tenth one carries a ``fail`` flag."""
    names = [f"entry_{i:03d}" for i in range(count)]
    out = []
    for i, name in enumerate(names):
        flags = (
            [FlagRecord(name="gradient_masking", message="Transfer beats white-box.", severity="fail")]
            if i % 10 == 9
            else []
        )
        out.append(synthetic_record(name, seed + i, track=track, names=names, n=n, flags=flags, baseline=i == 0))
    return out
