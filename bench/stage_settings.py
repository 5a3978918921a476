"""Typed stage settings: each stage declares one dataclass of what its cells read from the track's
``[stages.<name>]`` table, with every default; the resolved values (defaults and values computed from the track
filled in) are the cell's settings and so part of its cache key. A key the stage does not read is refused, with
the keys it does read, and every value is checked against its type (pydantic dataclasses).

Declare one with ``@settings_dataclass(frozen=True)`` (:func:`pydantic.dataclasses.dataclass`) on a subclass of
:class:`StageSettings`. A stage's ``run`` reads ``ctx.settings`` (the resolved values as a plain mapping) and
never supplies a default of its own: a default written in ``run`` would not enter the key, so changing it would
silently reuse stale cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import ConfigDict, ValidationError
from pydantic.dataclasses import dataclass as settings_dataclass

if TYPE_CHECKING:
    from bench.track import Track

__all__ = ["NESTED", "StageSettings", "settings_dataclass", "settings_dict"]

# Config of a nested settings table (an unknown key inside it is refused, like one at the top).
NESTED = ConfigDict(extra="forbid")


@settings_dataclass(frozen=True)
class StageSettings:
    """Base of every stage's settings (a stage with nothing to set uses it as is)."""

    # table key -> field name, for keys that cannot be Python names (``lambda``)
    ALIASES: ClassVar[Mapping[str, str]] = {}

    def resolve(self, track: Track, quick: bool) -> Self:
        """Fill in the values that default to something computed from ``track`` (``None`` fields)."""
        return self


def settings_dict(
    cls: type[StageSettings], raw: Mapping[str, Any], track: Track, quick: bool, stage: str
) -> dict[str, Any]:
    """The resolved settings of ``stage`` from its table ``raw``, as the JSON-able mapping cells see.

    Raises ``ValueError`` naming the table and the key for an unknown key or a value of the wrong type.
    """
    renamed = {cls.ALIASES.get(k, k): v for k, v in raw.items()}
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in raw if cls.ALIASES.get(k, k) not in fields)
    if unknown:
        readable = sorted({next((a for a, f in cls.ALIASES.items() if f == n), n) for n in fields})
        raise ValueError(f"[stages.{stage}]: unknown setting(s) {unknown}; the {stage} stage reads {readable}")
    try:
        value = cls(**renamed)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ValueError(f"[stages.{stage}] {where}: {first['msg']}") from None
    return dataclasses.asdict(value.resolve(track, quick))
