"""The hyperparameter schema a shipped defense module declares, read at admission **without running it**.

``robex submit`` never imports an entry's code outside the isolated build, yet its manifest's hyperparameters are
checked before anything runs, as a built-in defense's are. So the module's source is parsed (:func:`ast.parse`,
which executes nothing) and the class registered under the manifest's ``[defense] name`` with
``@DEFENSES.register("name")`` is read: its ``defaults`` must be a literal dict (:func:`ast.literal_eval`) and its
``schema``, if any, a literal dict whose values name types of :mod:`bench.hyperparameters` (``UnitInterval``,
``PositiveInt``, ``StrictBool``, ``float``, ``X | None``, ...). The manifest's hyperparameters are then validated
against that schema exactly as a registered defense's are (:func:`bench.hyperparameters.hyperparameter_model`,
strict). A module whose declaration cannot be read this way is refused with what to write instead, when the
manifest sets hyperparameters (with none set there is nothing to check). The build validates again, against the
class it imports.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench import hyperparameters as hp

# Type names a declared schema may use (bare, or as an attribute such as ``hyperparameters.UnitInterval``).
TYPES: Mapping[str, Any] = {
    "FiniteFloat": hp.FiniteFloat,
    "NonNegative": hp.NonNegative,
    "Positive": hp.Positive,
    "UnitInterval": hp.UnitInterval,
    "PositiveInt": hp.PositiveInt,
    "NonNegativeInt": hp.NonNegativeInt,
    "OptionalNonNegative": hp.OptionalNonNegative,
    "OptionalPositive": hp.OptionalPositive,
    "AnyFinite": hp.AnyFinite,
    "StrictBool": hp.inferred_type(True),
    "bool": hp.inferred_type(True),
    "int": int,
    "float": hp.FiniteFloat,
    "str": str,
}
HOW = (
    "admission checks hyperparameters without running the module: register the class with "
    "@DEFENSES.register({name!r}) and give it a literal `defaults = {{...}}` (and optionally a literal "
    "`schema = {{...}}` of bench.hyperparameters types)"
)


class DeclarationError(ValueError):
    """The module's declaration cannot be read statically; ``field`` is the manifest field to name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Declared:
    """A shipped defense's hyperparameters as its source declares them: defaults and declared types."""

    defaults: Mapping[str, Any]
    schema: Mapping[str, Any]


def _registers(decorator: ast.expr, name: str) -> bool:
    """Whether ``decorator`` is ``<...>.register("name")``."""
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "register"
        and len(decorator.args) == 1
        and isinstance(decorator.args[0], ast.Constant)
        and decorator.args[0].value == name
    )


def _registered_class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    return next(
        (
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and any(_registers(d, name) for d in node.decorator_list)
        ),
        None,
    )


def _assigns(stmt: ast.stmt, attr: str) -> bool:
    """Whether ``stmt`` is ``attr = ...`` or ``attr: T = ...``."""
    if isinstance(stmt, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == attr for t in stmt.targets)
    return isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == attr


def _class_attribute(cls: ast.ClassDef, attr: str) -> ast.expr | None:
    """The value last assigned to ``attr`` in the class body."""
    values = [stmt.value for stmt in cls.body if _assigns(stmt, attr)]  # type: ignore[attr-defined]
    return values[-1] if values else None


def _type_of(node: ast.expr, key: str) -> Any:
    """The schema type an expression names (a known name, an attribute ending in one, or ``A | None``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        right = node.right
        if isinstance(right, ast.Constant) and right.value is None:
            return _type_of(node.left, key) | None
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    if name in TYPES:
        return TYPES[name]
    allowed = ", ".join(sorted(TYPES))
    raise DeclarationError("defense.module", f"schema[{key!r}] is not one of {allowed} (or one of them | None)")


def _literal_dict(node: ast.expr, what: str, name: str) -> dict[str, Any]:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise DeclarationError(
            "defense.module", f"`{what}` is not a literal dict with string keys; " + HOW.format(name=name)
        )
    return value


def read_declared(source: str, name: str) -> Declared:
    """The hyperparameters the class registered as ``name`` in ``source`` declares; raises
    :class:`DeclarationError` when they cannot be read without running the module."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise DeclarationError("defense.module", f"not valid Python: {exc}") from None
    cls = _registered_class(tree, name)
    if cls is None:
        raise DeclarationError("defense.name", f"no class registered as {name!r} found; " + HOW.format(name=name))
    defaults_node = _class_attribute(cls, "defaults")
    if defaults_node is None:
        raise DeclarationError("defense.module", f"class {cls.name} declares no `defaults`; " + HOW.format(name=name))
    defaults = _literal_dict(defaults_node, f"{cls.name}.defaults", name)
    schema_node = _class_attribute(cls, "schema")
    if schema_node is None:
        return Declared(defaults, {})
    keys = [k.value if isinstance(k, ast.Constant) else None for k in getattr(schema_node, "keys", [None])]
    if not isinstance(schema_node, ast.Dict) or not all(isinstance(k, str) for k in keys):
        raise DeclarationError(
            "defense.module", f"`{cls.name}.schema` is not a literal dict with string keys; " + HOW.format(name=name)
        )
    return Declared(defaults, {str(k): _type_of(v, str(k)) for k, v in zip(keys, schema_node.values, strict=True)})


def check_declared(source: str, name: str, values: Mapping[str, Any]) -> None:
    """Validate manifest hyperparameters ``values`` against the schema the module ``source`` declares for defense
    ``name``: :class:`~bench.hyperparameters.HyperparameterError` names a bad hyperparameter,
    :class:`DeclarationError` a declaration that cannot be read (only raised when ``values`` is not empty)."""
    if not values:
        return
    declared = read_declared(source, name)
    try:
        model = hp.hyperparameter_model(name, declared.defaults, declared.schema)
    except TypeError as exc:
        raise DeclarationError("defense.module", str(exc)) from None
    hp.unknown_hyperparameter(name, declared.defaults, values)
    hp.check_values(model, name, {**declared.defaults, **values})
