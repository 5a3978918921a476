"""Typed hyperparameter schemas of defenses: every value is checked (type, range, finite) before anything
trains, and an error names the hyperparameter.

A defense declares ``schema`` beside its ``defaults``: a mapping from hyperparameter name to a type,
usually one of the constrained aliases below (``Annotated`` pydantic types). A hyperparameter without
an entry gets the type of its default value (``bool``, ``int``, a finite ``float``, ``str``); one whose
default is ``None`` and that has no entry may be any JSON value without NaN or infinity.
Validation is strict — a string is never read as a number (``sigma = "0.5"`` is refused), a float never as an
integer, a number never as a boolean; an integer is a valid float — and only checks: the values the defense sees
(and that go into cell keys) are the ones given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
UnitInterval = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
OptionalNonNegative = NonNegative | None
OptionalPositive = Positive | None


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or its value out of its schema; ``name`` is the hyperparameter."""

    def __init__(self, defense: str, name: str, message: str) -> None:
        super().__init__(f"defense {defense!r}: hyperparameter '{name}': {message}")
        self.defense = defense
        self.name = name
        self.detail = message


def _finite(value: Any) -> Any:
    """Reject NaN and ±inf anywhere inside ``value`` (lists and tables included)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if isinstance(value, Mapping):
        for v in value.values():
            _finite(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _finite(v)
    return value


AnyFinite = Annotated[Any, AfterValidator(_finite)]
_BY_TYPE: Mapping[type, Any] = {bool: StrictBool, int: int, float: FiniteFloat, str: str}


def inferred_type(default: Any) -> Any:
    """The schema type of a hyperparameter without a declared one, from its default value."""
    return _BY_TYPE.get(type(default), AnyFinite)


_MODELS: dict[type, type[BaseModel]] = {}


def schema_model(defense: type) -> type[BaseModel]:
    """The pydantic model of a defense class's hyperparameters (its ``defaults``' names, typed by its
    ``schema`` or by :func:`inferred_type`); unknown names are refused. Built once per class."""
    if defense not in _MODELS:
        declared: Mapping[str, Any] = getattr(defense, "schema", {})
        _MODELS[defense] = hyperparameter_model(defense.__name__, getattr(defense, "defaults", {}), declared)
    return _MODELS[defense]


def hyperparameter_model(title: str, defaults: Mapping[str, Any], declared: Mapping[str, Any]) -> type[BaseModel]:
    """A strict pydantic model with one field per name of ``defaults`` (all required), typed by ``declared``
    or by :func:`inferred_type`; extra names are refused. ``declared`` may only name hyperparameters of
    ``defaults``."""
    undeclared = sorted(set(declared) - set(defaults))
    if undeclared:
        raise TypeError(f"{title}.schema names {undeclared}, which are not in its defaults")
    fields: dict[str, Any] = {n: (declared.get(n, inferred_type(d)), ...) for n, d in defaults.items()}
    config = ConfigDict(extra="forbid", strict=True)
    return create_model(f"{title}Hyperparameters", __config__=config, **fields)


def unknown_hyperparameter(name: str, defaults: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Raise :class:`HyperparameterError` for the first name of ``values`` that ``defaults`` lacks, naming the
    allowed ones."""
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise HyperparameterError(name, unknown[0], f"unknown hyperparameter; allowed: {allowed}")


def check_values(model: type[BaseModel], name: str, values: Mapping[str, Any]) -> None:
    """Check ``values`` (every field of ``model``) against ``model``; raise :class:`HyperparameterError` naming
    the first offending hyperparameter of defense ``name``. Nothing is converted."""
    try:
        model.model_validate(dict(values))
    except ValidationError as err:
        e = err.errors()[0]
        first = str(e["loc"][0]) if e["loc"] else "(all)"
        raise HyperparameterError(name, first, f"{e['msg']} (got {e.get('input')!r})") from None


def validate_hyperparameters(defense: type, name: str, values: Mapping[str, Any]) -> None:
    """Check ``values`` (every hyperparameter, defaults merged in) against the schema of the defense
    class ``defense`` (registered as ``name``); raise :class:`HyperparameterError` naming the first
    offending hyperparameter (an unknown one with the allowed names). Nothing is converted: the defense keeps
    the values it was given."""
    unknown_hyperparameter(name, getattr(defense, "defaults", {}), values)
    check_values(schema_model(defense), name, values)
