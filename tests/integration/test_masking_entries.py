"""Gradient masking does not rank, and a crashing stage never leaves a quiet partial record (issue 22, item 6).

Hostile ``wrap()``s built here, run beside ``standard`` (quick; clean, pgd and sanity):

* ``binarise``: thresholds the input at 0.5 (``x > 0.5``), so its outputs leave the input out of the autograd
  graph. Before, every gradient attack raised and the record was *partial* with no flag; now the attacks see an
  exactly zero gradient, the record is complete and carries the ``gradient_masking`` fail flag;
* ``rounding``: rounds the input to {0, 1} (a differentiable-looking op whose gradient is zero everywhere): it
  was ranked with only ``warn`` flags; now ``gradient_masking`` fails it;
* ``crash_on_grad``: a model whose forward pass raises when its input requires a gradient: the clean stage
  runs, every attack crashes. The record shows the ``stage_failed`` fail flag naming each stage and its error.

None of them is ranked, and every other record and cell stays byte for byte as it was.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.frontends.api import run_track
from bench.plugins import DEFENSES
from bench.protocols import Defense, DefenseCard, TrainState
from bench.results.ranking import ranking

HEAD = 'title = "t"\nauthors = "a"\ntrack = "mnist5k"\n'
CARD = DefenseCard(title="t", authors="a", venue="v", year=2024, url="", summary="s", fidelity="f")
STAGES = ["clean", "pgd", "sanity"]


class _Wrapped(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model


class Binarise(_Wrapped):
    def forward(self, x: Tensor) -> Tensor:
        return self.model((x > 0.5).to(x.dtype))


class Rounding(_Wrapped):
    def forward(self, x: Tensor) -> Tensor:
        return self.model(torch.round(x))


class CrashOnGradient(_Wrapped):
    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad:
            raise RuntimeError("this model refuses to be differentiated")
        return self.model(x)


def _defense(name: str, wrapper: type[_Wrapped]) -> type[Defense]:
    class _D(Defense):
        card = CARD

        def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
            return F.cross_entropy(model(x), y)

        def wrap(self, model: nn.Module) -> nn.Module:
            return wrapper(model)

    _D.name = name  # type: ignore[misc]
    return _D


HOSTILE: dict[str, type[_Wrapped]] = {"binarise": Binarise, "rounding": Rounding, "crash_on_grad": CrashOnGradient}


def _snapshot(*folders: Path) -> dict[str, bytes]:
    files = [p for f in folders for p in f.rglob("*") if p.is_file()]
    return {str(p): p.read_bytes() for p in sorted(files)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> dict[str, Any]:
    """The three hostile entries run beside standard, after standard alone: records by name, and every record
    and cell before and after."""
    for name, wrapper in HOSTILE.items():
        if f"test_{name}" not in DEFENSES:
            DEFENSES.add(f"test_{name}", _defense(f"test_{name}", wrapper))
    root = tmp_path_factory.mktemp("masking")
    store, results = root / "store", root / "results"
    shutil.copytree(quick_store, store)
    kw: dict[str, Any] = {"store": store, "results_root": results, "quick": True, "device": "cpu", "stages": STAGES}
    kw["executor_options"] = {"show_progress": False}
    run_track("mnist5k", entries=["standard"], **kw)
    before = _snapshot(results, store / "cells")
    dirs = []
    for name in HOSTILE:
        folder = root / name
        folder.mkdir()
        (folder / "entry.toml").write_text(textwrap.dedent(f'name = "{name}"\n{HEAD}[defense]\nname = "test_{name}"\n'))
        dirs.append(folder)
    report = run_track("mnist5k", entries=["standard", *HOSTILE], extra_entries=dirs, **kw)
    return {
        "records": {r.name: r for r in report.records},
        "before": before,
        "after": _snapshot(results, store / "cells"),
    }


@pytest.mark.parametrize("name", ["binarise", "rounding"])
def test_a_zero_gradient_model_is_scored_in_full_and_fails_the_masking_check(runs: dict[str, Any], name: str) -> None:
    record = runs["records"][name]
    assert record.status == "ok" and not record.errors  # the attacks ran on the exactly-zero gradient
    assert {"clean_accuracy", "pgd_accuracy", "robust_accuracy"} <= set(record.scores)
    flag = next(f for f in record.flags if f.name == "gradient_masking")
    assert flag.severity == "fail" and flag.evidence["zero_gradient_fraction"] == 1.0
    assert "zero input gradient on 100.0% of the checked images" in flag.message
    # the attacks cannot move it: PGD leaves it almost as accurate as on clean images
    assert record.scores["pgd_accuracy"].value > 0.5


def test_a_crashing_stage_is_a_fail_flag_naming_the_stage_and_its_error(runs: dict[str, Any]) -> None:
    record = runs["records"]["crash_on_grad"]
    assert record.status == "partial" and set(record.errors) == {"pgd", "sanity"}
    assert "clean_accuracy" in record.scores
    flag = next(f for f in record.flags if f.name == "stage_failed")
    assert flag.severity == "fail" and flag.evidence["stages"] == 2.0
    for stage in ("pgd", "sanity"):
        assert f"{stage}: RuntimeError: this model refuses to be differentiated" in flag.message


def test_none_is_ranked_and_nothing_else_changed(runs: dict[str, Any]) -> None:
    records = runs["records"]
    placed = {p.record.name: p for p in ranking(list(records.values()), "pgd_accuracy", include_quick=True)}
    assert placed["standard"].rank == 1 and not [f for f in records["standard"].flags if f.severity == "fail"]
    assert placed["binarise"].rank is None and placed["binarise"].reason == "flagged: gradient_masking"
    assert placed["rounding"].rank is None and placed["rounding"].reason == "flagged: gradient_masking"
    assert placed["crash_on_grad"].rank is None and placed["crash_on_grad"].reason == "flagged: stage_failed"
    before, after = runs["before"], runs["after"]
    assert {k: after[k] for k in before} == before  # standard's record and every earlier cell byte for byte
