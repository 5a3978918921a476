"""The registries of robex's plug-ins. Built-ins register themselves when their package is imported;
each registry imports its packages (plain imports in a loader) lazily on first lookup, so ``bench`` never imports
them eagerly; third-party plug-ins are found through ``[project.entry-points]`` groups ``robex.<kind>``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.protocols import Attack, Defense, Explainer, Stage, StageOutput
from bench.registry import Registry
from bench.types import ScoreSpec


def _defenses() -> None:
    import defenses  # noqa: F401 -- registers the built-in defenses


def _attacks() -> None:
    import attacks  # noqa: F401 -- registers the built-in attacks


def _explainers() -> None:
    import bench.explainers  # noqa: F401 -- registers the built-in explainers


def _stages() -> None:
    import bench.stages  # noqa: F401 -- registers the built-in stages, their scores and finalizers


# Third-party packages register under the ``robex.<kind>`` entry-point groups (see the README).
DEFENSES: Registry[type[Defense]] = Registry("defense", load=_defenses, group="robex.defenses")
ATTACKS: Registry[type[Attack]] = Registry("attack", load=_attacks, group="robex.attacks")
EXPLAINERS: Registry[type[Explainer]] = Registry("explainer", load=_explainers, group="robex.explainers")
STAGES: Registry[type[Stage]] = Registry("stage", load=_stages, group="robex.stages")
SCORES: Registry[ScoreSpec] = Registry("score", load=_stages, group="robex.scores")
# Finalizers see an entry's whole draft record (every stage's output) and add cross-stage flags/scores.
FINALIZERS: Registry[Callable[[Any], StageOutput]] = Registry("finalizer", load=_stages, group="robex.finalizers")


def register_score(spec: ScoreSpec) -> ScoreSpec:
    """Add a :class:`ScoreSpec` to :data:`SCORES` and return it (module-level one-liner for stages)."""
    SCORES.add(spec.name, spec)
    return spec
