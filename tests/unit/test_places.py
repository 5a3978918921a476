"""Where records go by default: a user's runs never write into the package (a clone's committed records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.results.places import (
    default_results_root,
    default_site_root,
    record_roots,
    site_beside,
    user_results_root,
    user_site_root,
)


def test_robex_results_chooses_the_user_results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBEX_RESULTS", str(tmp_path / "mine"))
    assert user_results_root() == tmp_path / "mine"
    assert user_site_root() == tmp_path / "site"


def test_the_default_user_folders_lie_outside_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROBEX_RESULTS", raising=False)
    package = default_results_root().parent.resolve()
    for root in (user_results_root(), user_site_root()):
        assert package not in root.resolve().parents and root.resolve() != package
    assert default_site_root().parent == default_results_root().parent


def test_the_site_of_a_records_folder_lies_beside_it(tmp_path: Path) -> None:
    assert site_beside(tmp_path / "mine" / "results") == tmp_path / "mine" / "site"
    assert site_beside(default_results_root()) == default_site_root()  # leaderboard/results -> leaderboard/site
    assert site_beside(user_results_root()) == user_site_root()


def test_records_are_read_from_the_named_folder_or_the_user_s_then_the_committed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBEX_RESULTS", str(tmp_path / "mine"))
    assert record_roots(tmp_path / "x") == [tmp_path / "x"]
    assert record_roots(None) == [tmp_path / "mine", default_results_root()]
    monkeypatch.setenv("ROBEX_RESULTS", str(default_results_root()))  # a maintainer's: searched once
    assert record_roots(None) == [default_results_root()]
