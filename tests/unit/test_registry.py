"""Registry behaviour: add/get/create/names, duplicates raise, unknown names suggest close matches."""

from __future__ import annotations

import pytest

from bench.plugins import ATTACKS, DEFENSES, EXPLAINERS, SCORES, STAGES
from bench.registry import DuplicateNameError, Registry, UnknownNameError
from bench.track import TRACKS


def test_add_get_create_and_names() -> None:
    reg: Registry[type] = Registry("thing")

    @reg.register("alpha")
    class Alpha:
        def __init__(self, x: int = 1) -> None:
            self.x = x

    reg.add("beta", dict)
    assert reg.get("alpha") is Alpha
    assert Alpha.name == "alpha"  # type: ignore[attr-defined]
    assert reg.create("alpha", x=3).x == 3
    assert reg.names() == ["alpha", "beta"]
    assert reg.names("a*") == ["alpha"]
    assert "beta" in reg and "gamma" not in reg
    assert len(reg) == 2
    assert list(reg) == ["alpha", "beta"]


def test_duplicate_names_raise() -> None:
    reg: Registry[int] = Registry("number")
    reg.add("one", 1)
    with pytest.raises(DuplicateNameError, match="'one' is already registered"):
        reg.add("one", 2)
    assert reg.get("one") == 1  # the first registration survives


def test_unknown_name_suggests_close_matches() -> None:
    reg: Registry[int] = Registry("defense")
    for n in ("pgd_at", "fgsm_at", "trades"):
        reg.add(n, 0)
    with pytest.raises(UnknownNameError, match=r"unknown defense 'pgd-at'; did you mean: pgd_at"):
        reg.get("pgd-at")
    with pytest.raises(UnknownNameError, match="known: fgsm_at, pgd_at, trades"):
        reg.get("zzz")


def test_invalid_names_rejected() -> None:
    reg: Registry[int] = Registry("x")
    with pytest.raises(ValueError, match="non-empty string"):
        reg.add("", 1)


def test_lazy_plugin_loading_runs_the_loader_once() -> None:
    calls: list[int] = []
    reg: Registry[int] = Registry("lazy", load=lambda: calls.append(1))
    assert calls == []  # nothing is imported before the first lookup
    assert reg.names() == []
    assert "x" not in reg
    assert calls == [1]


def test_entry_points_register_third_party_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """A third-party package declares ``[project.entry-points."robex.<kind>"] name = "module:object"``."""
    from importlib import metadata

    eps = metadata.EntryPoints(
        [
            metadata.EntryPoint("seven", "operator:index", "robex.numbers"),
            metadata.EntryPoint("json_module", "json", "robex.numbers"),  # a module registers itself on import
        ]
    )
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps.select(group=group))
    reg: Registry[object] = Registry("number", group="robex.numbers")
    import operator

    assert reg.get("seven") is operator.index
    assert "json_module" not in reg


@pytest.mark.parametrize("registry", [TRACKS, DEFENSES, ATTACKS, EXPLAINERS, SCORES, STAGES])
def test_builtin_registries_are_populated(registry: Registry[object]) -> None:
    assert len(registry) > 0, f"{registry!r} has no built-in plug-ins"


def test_core_plugins_present() -> None:
    assert {"mnist5k", "mnist", "fashion-mnist", "cifar10"} <= set(TRACKS.names())
    assert "standard" in DEFENSES
    assert "pgd" in ATTACKS
    assert {"train", "clean", "pgd"} <= set(STAGES.names())
    assert {"clean_accuracy", "pgd_accuracy"} <= set(SCORES.names())
