"""The compute budgets a paper's verdicts were measured at, beside the paper's own.

A claim that "does not hold" after 80 fine-tuning steps says something different from one that does not hold
after the paper's few hundred: the reader must see which. For every paper a function registered in
:data:`BUDGETS` reads, from the records of one track, the budget each of its checks rests on (training epochs,
attack steps, images, fine-tuning steps) and pairs it with the paper's (its code's defaults or its stated
small-scale setup, cited per note). The claims page shows the notes under the paper's heading and, next to every
verdict of a paper with a budget below the paper's, says that the verdict was measured at a smaller budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bench.results import Registry
from leaderboard.evidence import BudgetNote, Evidence

BUDGETS: Registry[Callable[[Evidence], tuple[BudgetNote, ...]]] = Registry("paper budgets")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _trained_epochs(ev: Evidence, entries: Iterable[str]) -> float | None:
    """The largest number of epochs any of ``entries`` trained (details.train.runs[].epochs), None if none."""
    epochs = [
        e
        for name in entries
        for run in ev.section(name, "train").get("runs", [])
        if isinstance(run, dict) and (e := _number(run.get("epochs"))) is not None
    ]
    return max(epochs) if epochs else None


@BUDGETS.register("ross2018")
def ross(ev: Evidence) -> tuple[BudgetNote, ...]:
    """Ross & Doshi-Velez's training length: 15,000 Adam batches of 256 ≈ 70 epochs of 55,000 MNIST images."""
    return (
        BudgetNote(
            "training epochs of the regularised models",
            _trained_epochs(ev, ("input_gradient", "input_gradient_insensitive", "distillation")),
            70,
            "released train_all.py: 15,000 batches of 256 images",
        ),
    )


@BUDGETS.register("boopathy2020")
def boopathy(ev: Evidence) -> tuple[BudgetNote, ...]:
    """Boopathy et al.'s MNIST training (100 epochs), PGD evaluation (up to 200 steps, 200 images) and top-k
    CAM attack (200 steps)."""
    sweep = ev.section("interpretability_aware", "pgd_sweep") or ev.section("standard", "pgd_sweep")
    explain = ev.section("interpretability_aware", "explain")
    topk = explain.get("boopathy", {}).get("topk", {}) if isinstance(explain.get("boopathy"), dict) else {}
    return (
        BudgetNote(
            "training epochs of Int, Int2, PGD-AT and TRADES",
            _trained_epochs(ev, ("interpretability_aware", "interpretability_aware_int2", "pgd_at", "trades")),
            100,
            "released train.py, MNIST: batch 50, 100 epochs",
        ),
        BudgetNote("PGD steps of the ε sweep", _number(sweep.get("steps")), 200, "released eval.py"),
        BudgetNote("images of the ε sweep", _number(sweep.get("n")), 200, "released eval.py"),
        BudgetNote(
            "steps of the top-k CAM attack",
            _number(topk.get("steps")) if isinstance(topk, dict) else None,
            200,
            "released eval.py: 200 steps of 0.01",
        ),
    )


@BUDGETS.register("woods2019")
def woods(ev: Evidence) -> tuple[BudgetNote, ...]:
    """Woods et al.'s ARA: the L2,min search's T = 450 steps on 1,000 images."""
    settings = ev.section("standard", "ara").get("settings", {})
    settings = settings if isinstance(settings, dict) else {}
    return (
        BudgetNote("steps of the L2,min search", _number(settings.get("steps")), 450, "released main.py default T"),
        BudgetNote("images", _number(settings.get("n")), 1000, "the paper's ARA sample"),
    )


#: Heo et al.'s fine-tuning budget class: a few hundred Adam steps or more (their scripts run thousands of
#: iterations on ImageNet; the full-MNIST tracks run 600).
HEO_STEPS = 300


@BUDGETS.register("heo2019")
def heo(ev: Evidence) -> tuple[BudgetNote, ...]:
    """Heo et al.'s fine-tuning length: a few hundred Adam steps at digit scale (:data:`HEO_STEPS` as the floor).
    At mnist5k scale a 600-step fine-tune fools Grad-CAM on nearly every held-out image, so fooling rates measured
    below the floor understate how manipulable the models are."""
    return (
        BudgetNote(
            "Adam fine-tuning steps of each fooling run (and of its λ = 0 control)",
            _number(ev.section("standard", "manipulate").get("steps")),
            HEO_STEPS,
            "a few hundred Adam steps; their scripts run thousands of iterations at lr 1e-6 to 1e-5 on ImageNet",
        ),
    )


@BUDGETS.register("activation_sensitivity")
def activation_sensitivity(ev: Evidence) -> tuple[BudgetNote, ...]:
    """The paper's training budget is not known (its method section was not readable): no note."""
    return ()


def budget_notes(key: str, ev: Evidence) -> tuple[BudgetNote, ...]:
    """The budget notes of the paper registered as ``key`` (none when the paper has no budget function)."""
    return BUDGETS.get(key)(ev) if key in BUDGETS else ()
