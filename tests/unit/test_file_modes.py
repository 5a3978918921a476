"""Records, checkpoints and site files are readable by others under the usual umask (a web server running as
another user must be able to serve them), while writes stay atomic."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.results.atomic import atomic_write_bytes, atomic_write_json
from leaderboard.render import replace_file


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_written_files_get_0666_less_the_umask(tmp_path: Path, umask: int) -> None:
    written = [
        atomic_write_bytes(tmp_path / "a.bin", b"x"),
        atomic_write_json(tmp_path / "r" / "record.json", {"a": 1}),
    ]
    replace_file(tmp_path / "site" / "index.html", "<p>hi</p>")
    written.append(tmp_path / "site" / "index.html")
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert not list(tmp_path.rglob("*.tmp"))


def test_the_usual_umask_gives_0644(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_bytes(tmp_path / "x", b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
