"""Worker processes get one thread budget for every native pool, not only torch's: OpenBLAS/OpenMP read their
variables when they load, so they are set before a worker is spawned; the user's own settings win."""

from __future__ import annotations

import multiprocessing as mp
import os

import pytest

from bench.running.parallel import _THREAD_VARIABLES, worker_thread_environment


def _child_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in _THREAD_VARIABLES}


def test_spawned_workers_inherit_the_thread_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "7")  # the user's choice
    with worker_thread_environment(1), mp.get_context("spawn").Pool(1) as pool:
        seen = pool.apply(_child_environment)
    assert seen["OPENBLAS_NUM_THREADS"] == "7"
    assert all(seen[name] == "1" for name in _THREAD_VARIABLES if name != "OPENBLAS_NUM_THREADS")
    # the parent's environment is as before
    assert {name: os.environ.get(name) for name in _THREAD_VARIABLES} == {
        name: ("7" if name == "OPENBLAS_NUM_THREADS" else None) for name in _THREAD_VARIABLES
    }


def test_no_budget_sets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with worker_thread_environment(None):
        assert all(name not in os.environ for name in _THREAD_VARIABLES)
