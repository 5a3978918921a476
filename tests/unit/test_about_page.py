"""The site's "About the scores" page, made from the score catalogue and the flags' vocabulary, linked from every
page; and the repository cites papers by their public links, never by a file outside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.results.catalogue import catalogue
from bench.results.flags import EXPLANATIONS, SEVERITY, Check
from bench.results.scores import score_infos
from leaderboard.render import render_records
from leaderboard.synthetic import HOSTILE_TITLE, SYNTHETIC_SPECS, synthetic_record
from leaderboard.view.about import about_page
from leaderboard.view.text import safe_url

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = re.compile(r"^https://(arxiv\.org/abs/\d{4}\.\d{4,5}|proceedings\.|papers\.nips\.cc/|openreview\.net/)")


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_every_catalogued_score_names_its_source_and_links_it_publicly(name: str) -> None:
    spec = catalogue()[name]
    assert spec.source, f"{name}: add source (and source_url) to bench/results/scores.toml"
    if spec.source.startswith("robex"):
        assert spec.source_url == ""  # defined by this benchmark: nothing to link
    else:
        assert PUBLIC.match(spec.source_url) and safe_url(spec.source_url) == spec.source_url, spec.source_url


def test_about_page_lists_every_score_by_family_and_every_flag() -> None:
    infos = score_infos()
    about = about_page(infos)
    shown = {s.name: s for _, scores in about.groups for s in scores}
    assert set(shown) == set(infos)
    families = [category for category, _ in about.groups]
    assert len(families) == len(set(families))  # one section per family
    for name, s in shown.items():
        info = infos[name]
        assert s.direction == {True: "higher is better", False: "lower is better"}[bool(info.higher_is_better)]
        assert s.arrow == info.arrow and s.headline == info.primary and s.description == info.description
        assert s.source_url == info.source_url
    assert [f.name for f in about.flags] == sorted(
        (c.value for c in Check), key=lambda n: ({"fail": 0, "warn": 1, "info": 2}[SEVERITY[Check(n)].value], n)
    )
    assert all(f.explanation == EXPLANATIONS[Check(f.name)] for f in about.flags)


def test_about_page_is_rendered_and_linked_from_every_page(tmp_path: Path) -> None:
    records = [synthetic_record("a", 0, n=20), synthetic_record("b", 1, n=20, title=HOSTILE_TITLE)]
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    about = (tmp_path / "about.html").read_text(encoding="utf-8")
    assert "<h1>About the scores</h1>" in about
    for spec in SYNTHETIC_SPECS:
        assert f'id="score-{spec.name}"' in about
    for check in Check:
        assert f'id="flag-{check.value}"' in about
    for page in tmp_path.rglob("*.html"):
        root = "../" * (len(page.relative_to(tmp_path).parts) - 1)
        assert f'<a href="{root}about.html">About the scores</a>' in page.read_text(encoding="utf-8"), page


def test_rendered_site_names_no_file_outside_the_repository(tmp_path: Path) -> None:
    records = [synthetic_record("a", 0, n=20)]
    render_records(records, tmp_path, specs=None, tracks={})
    for page in tmp_path.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "papers.md" not in text and "../shared" not in text, page


def test_sources_cite_papers_by_public_link_not_by_a_file_outside_the_repository() -> None:
    """Code, templates and the README (the track files' comments are part of their fingerprint and change only
    with a track version)."""
    found = []
    for pattern in ("**/*.py", "**/*.j2", "README.md", "bench/results/scores.toml"):
        for path in ROOT.glob(pattern):
            if ".git" in path.parts or "site-packages" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            if path.name != Path(__file__).name and ("papers.md" in text or "shared/docs" in text):
                found.append(str(path.relative_to(ROOT)))
    assert found == []


def test_a_plug_ins_source_link_must_be_http(tmp_path: Path) -> None:
    from dataclasses import replace

    hostile = replace(SYNTHETIC_SPECS[0], source=HOSTILE_TITLE, source_url="javascript:alert(1)")
    render_records([synthetic_record("a", 0, n=20)], tmp_path, specs=(hostile, *SYNTHETIC_SPECS[1:]), tracks={})
    about = (tmp_path / "about.html").read_text(encoding="utf-8")
    assert "javascript:" not in about and "<script>alert" not in about
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in about  # the source shown as text


def test_about_page_states_the_band_rule_and_what_the_intervals_cover(tmp_path: Path) -> None:
    about = about_page(score_infos())
    rule = " ".join(about.bands)
    phrases = ("Holm", "McNemar", "paired bootstrap", "never cut to the shorter", "same Holm family", "≈ leader")
    for phrase in (*phrases, "contiguous"):
        assert phrase in rule, phrase
    assert "image" in about.intervals and "one training run" in about.intervals and "seed" in about.intervals
    assert "scipy.stats.bootstrap" in about.intervals and "Wilson" in about.intervals
    render_records([synthetic_record("a", 0, n=20)], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "about.html").read_text(encoding="utf-8")
    assert '<h2 id="intervals">Intervals and significance bands</h2>' in page
    assert "never cut to the shorter" in page and "one training run with one seed" in page
