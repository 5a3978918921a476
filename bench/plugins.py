"""The registries of robex's plug-ins. Built-ins register themselves when their package is imported;
each registry imports its packages lazily on first lookup, so ``bench`` never imports them eagerly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.protocols import Attack, Defense, Explainer, Stage, StageOutput
from bench.registry import Registry
from bench.types import ScoreSpec

DEFENSES: Registry[type[Defense]] = Registry("defense", plugins=("defenses",))
ATTACKS: Registry[type[Attack]] = Registry("attack", plugins=("attacks",))
EXPLAINERS: Registry[type[Explainer]] = Registry("explainer", plugins=("bench.explainers",))
STAGES: Registry[type[Stage]] = Registry("stage", plugins=("bench.stages",))
SCORES: Registry[ScoreSpec] = Registry("score", plugins=("bench.stages",))
# Finalizers see an entry's whole draft record (every stage's output) and add cross-stage flags/scores.
FINALIZERS: Registry[Callable[[Any], StageOutput]] = Registry("finalizer", plugins=("bench.stages",))


def register_score(spec: ScoreSpec) -> ScoreSpec:
    """Add a :class:`ScoreSpec` to :data:`SCORES` and return it (module-level one-liner for stages)."""
    SCORES.add(spec.name, spec)
    return spec
