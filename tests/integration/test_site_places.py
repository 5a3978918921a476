"""``--results X`` alone never touches another folder's site: ``robex run`` and ``robex leaderboard`` render the
records of X into ``site`` beside X (the issue: ``--results X`` without ``--site`` re-rendered the clone's default
site from X, replacing the committed tracks' pages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.results.places import default_site_root
from tests.submissions import snapshot


def test_results_alone_render_the_site_beside_them_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quick_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user = tmp_path / "user"
    monkeypatch.setenv("ROBEX_RESULTS", str(user / "results"))
    (user / "site").mkdir(parents=True)
    (user / "site" / "index.html").write_text("the user's own site")
    clone_site = snapshot(default_site_root()) if default_site_root().is_dir() else {}
    mine = tmp_path / "mine" / "results"
    common = ["--quick", "--entries", "standard", "--stages", "clean", "--device", "cpu", "--workers", "1"]
    assert main(["run", *common, "--store", str(quick_store), "--results", str(mine)]) == 0
    site = tmp_path / "mine" / "site"
    assert capsys.readouterr().out.rstrip().splitlines()[-1] == f"Leaderboard: {(site / 'quick.html').resolve()}"
    assert "standard" in (site / "quick.html").read_text()
    (site / "index.html").unlink()
    assert main(["leaderboard", "--results", str(mine)]) == 0
    assert capsys.readouterr().out.strip() == f"Leaderboard: {(site / 'index.html').resolve()}"
    assert snapshot(user / "site") == {"index.html": b"the user's own site"}
    assert not (user / "results").exists()
    assert (snapshot(default_site_root()) if default_site_root().is_dir() else {}) == clone_site
