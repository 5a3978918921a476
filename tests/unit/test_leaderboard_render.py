"""The static site: golden index, hostile strings rendered inert everywhere, csv/json from the same records,
determinism, stale pages removed, every page self-contained (no network, strict CSP)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.results.records import EntryInfo, FlagRecord, Provenance, Record, ScoreRecord, write_record
from leaderboard.render import render_records, render_site
from leaderboard.synthetic import HOSTILE_TITLE, SYNTHETIC_SPECS, synthetic_record, tiny_png

GOLDEN = Path(__file__).parent / "golden" / "leaderboard_index.html"
UPDATE = os.environ.get("ROBEX_UPDATE_GOLDEN") == "1"


def make_record(
    name: str,
    scores: dict[str, float],
    *,
    title: str | None = None,
    quick: bool = False,
    flags: tuple[FlagRecord, ...] = (),
    status: str = "ok",
    baseline: bool = False,
    **entry: object,
) -> Record:
    """A record with hand-chosen numbers (n = 100; intervals ±0.05 for fractions)."""
    return Record(
        track="toy",
        entry=EntryInfo(
            name=name,
            title=title or f"Entry {name}",
            authors="Ada Lovelace",
            kind="recipe",
            defense="standard",
            baseline=baseline,
            **entry,  # type: ignore[arg-type]
        ),
        quick=quick,
        status=status,  # type: ignore[arg-type]
        scores={
            k: ScoreRecord(value=v, n=100, ci_low=max(0.0, v - 0.05), ci_high=min(1.0, v + 0.05))
            for k, v in scores.items()
        },
        flags=list(flags),
        provenance=Provenance(seed=0, track_version="1.0", track_sha256="0" * 64, subset_sha256="1" * 64),
    )


def golden_records() -> list[Record]:
    fail = FlagRecord(name="gradient_masking", message="Transfer beats white-box by 12 pp.", severity="fail")
    warn = FlagRecord(name="high_eps_accuracy", message="Accuracy stays above 0 at ε = 1.", severity="warn")
    return [
        make_record("alpha", {"clean_accuracy": 0.98, "pgd_accuracy": 0.10, "autoattack_accuracy": 0.05}),
        make_record(
            "beta",
            {"clean_accuracy": 0.97, "pgd_accuracy": 0.90, "autoattack_accuracy": 0.88, "deletion_auc": 0.2},
            paper_url="https://example.org/beta",
            venue="ICLR 2018",
            baseline=True,
        ),
        make_record("gamma", {"clean_accuracy": 0.95, "autoattack_accuracy": 0.88, "ara_attack": 0.031}, flags=(warn,)),
        make_record("masked", {"clean_accuracy": 0.99, "autoattack_accuracy": 0.97}, flags=(fail,)),
        make_record("broken", {"clean_accuracy": 0.5}, status="failed"),
        make_record("smoke", {"clean_accuracy": 0.3, "autoattack_accuracy": 0.99}, quick=True),
        make_record("hostile", {"clean_accuracy": 0.9, "autoattack_accuracy": 0.5}, title=HOSTILE_TITLE),
    ]


def test_index_matches_the_golden_file(tmp_path: Path) -> None:
    index = render_records(golden_records(), tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    html = index.read_text(encoding="utf-8")
    if UPDATE:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(html, encoding="utf-8")
    assert html == GOLDEN.read_text(encoding="utf-8"), "index changed: inspect, then ROBEX_UPDATE_GOLDEN=1"


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-entry="([^"]+)"', html)


def test_index_ranks_by_autoattack_in_bands_flagged_and_failed_apart(tmp_path: Path) -> None:
    html = render_records(golden_records(), tmp_path, specs=SYNTHETIC_SPECS, tracks={}).read_text()
    ranked, unranked = html.split('<tbody class="unranked">')
    assert _rows(ranked) == ["beta", "gamma", "hostile", "alpha"]  # AutoAttack 0.88, 0.88, 0.5, 0.05
    # no per-image results in these records: the difference test from the ±0.05 intervals decides (beta = gamma)
    bands = re.findall(r'<td class="num band" data-value="\d+" title="[^"]*">(\d+)</td>', ranked)
    assert bands == ["1", "1", "2", "3"]
    assert "Ranks are bands." in html and "tested from the two 95% intervals" in html
    assert re.findall(r'<td class="num band" data-value="" title="[^"]*">—</td>', unranked)
    assert _rows(unranked) == ["masked", "broken"]  # masked has the best AA but a fail flag
    assert "smoke" not in _rows(html)  # quick-mode records never enter the leaderboard
    assert 'aria-sort="descending">AutoAttack acc.' in html
    assert "flagged: gradient_masking" in unranked


def test_default_sort_falls_back_to_pgd_without_autoattack(tmp_path: Path) -> None:
    records = [
        make_record(n, {"clean_accuracy": c, "pgd_accuracy": p}) for n, c, p in [("a", 0.9, 0.1), ("b", 0.5, 0.4)]
    ]
    html = render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={}).read_text()
    assert _rows(html) == ["b", "a"]
    assert 'aria-sort="descending">PGD acc.' in html


def test_columns_come_from_score_metadata(tmp_path: Path) -> None:
    html = render_records(golden_records(), tmp_path, specs=SYNTHETIC_SPECS, tracks={}).read_text()
    for spec in SYNTHETIC_SPECS:
        present = any(spec.name in r.scores for r in golden_records() if not r.quick)
        shown = f'data-score="{spec.name}"' in html
        assert shown == (present and spec.primary), spec.name
        if shown:
            assert spec.description in html and spec.title in html
    assert 'data-score="deletion_auc" data-first="ascending"' in html  # lower is better sorts ascending first


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE_URL = "javascript:alert(1)"


def hostile_records() -> list[Record]:
    names = ["good", "evil"]
    good = synthetic_record("good", 1, names=names, n=40)
    evil = synthetic_record("evil", 2, names=names, n=40, title=HOSTILE_TITLE)
    details = dict(evil.details)
    details["ara"] = {
        "curves": {
            "a": {"title": HOSTILE_TITLE, "x": [0, 1], "y": [1, 0], "xlabel": HOSTILE_TITLE, "ylabel": HOSTILE_TITLE}
        },
        "table": [{HOSTILE_TITLE: HOSTILE_TITLE}],
        "chance": 0.1,
    }
    png = __import__("base64").b64encode(tiny_png(__import__("numpy").zeros((4, 4), dtype="uint8"))).decode()
    scale = {"colormap": "inferno", "low": HOSTILE_TITLE, "high": HOSTILE_TITLE, "meaning": HOSTILE_TITLE}
    gallery = {"caption": HOSTILE_TITLE, "images": [{"label": HOSTILE_TITLE, "png": png}], "scale": scale}
    details["explain"] = {"gallery": [gallery]}
    entry = evil.entry.model_copy(
        update={
            "authors": HOSTILE_TITLE,
            "venue": HOSTILE_TITLE,
            "paper_url": HOSTILE_URL,
            "description": HOSTILE_TITLE,
            "hyperparameters": {HOSTILE_TITLE: HOSTILE_TITLE},
            "card": {"url": "javascript:alert(2)", "summary": HOSTILE_TITLE},
        }
    )
    flag = FlagRecord(name=HOSTILE_TITLE, message=HOSTILE_TITLE, severity="warn")
    evil = evil.model_copy(update={"entry": entry, "details": details, "flags": [flag]})
    return [good, evil]


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    render_records(hostile_records(), out, specs=SYNTHETIC_SPECS, tracks={})
    return out


def test_hostile_strings_render_inert_on_every_page(hostile_site: Path) -> None:
    pages = sorted(hostile_site.rglob("*.html"))
    assert {p.name for p in pages} >= {"index.html", "evil.html", "good.html", "_compare.html", "_transfer.html"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script>alert" not in html and 'alert("pwned")</script>' not in html, page
        assert html.count("<script") == 1, page  # only our own inline script
        parser = _Collector()
        parser.feed(html)
        for tag, attrs in parser.tags:
            assert not any(k.startswith("on") for k in attrs), (page, tag, attrs)
            for key in ("href", "src"):
                value = (attrs.get(key) or "").strip().lower()
                assert not value.startswith("javascript:"), (page, tag, attrs)
        assert "49" not in "".join(t for t in parser.text if "7*7" in t)  # never evaluated as a template
    evil = (hostile_site / "toy" / "evil.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; O&#39;Brien &amp; &#34;Co&#34; {{ 7*7 }}" in evil
    assert HOSTILE_URL in evil and f'href="{HOSTILE_URL}"' not in evil  # shown as text, never a link
    assert 'class="colour-bar"' in evil and '<line class="reference"' in evil  # the new texts are escaped too
    assert 'href="https://example.org/paper"' in (hostile_site / "toy" / "good.html").read_text(encoding="utf-8")
    badge = (hostile_site / "toy" / "evil.svg").read_text(encoding="utf-8")
    assert "<script" not in badge


def test_csv_and_json_keep_hostile_strings_as_data(hostile_site: Path) -> None:
    rows = list(csv.DictReader(io.StringIO((hostile_site / "leaderboard.csv").read_text(encoding="utf-8"))))
    by_name = {r["entry"]: r for r in rows}
    assert by_name["evil"]["title"] == HOSTILE_TITLE
    assert by_name["evil"]["paper_url"] == HOSTILE_URL
    assert float(by_name["good"]["clean_accuracy"]) == hostile_records()[0].scores["clean_accuracy"].value
    doc = json.loads((hostile_site / "leaderboard.json").read_text(encoding="utf-8"))
    entries = {e["entry"]["name"]: e for e in doc["tracks"][0]["entries"]}
    assert entries["evil"]["entry"]["title"] == HOSTILE_TITLE
    assert entries["evil"]["flags"][0]["message"] == HOSTILE_TITLE
    assert isinstance(entries["good"]["scores"]["clean_accuracy"]["value"], float)


def test_csv_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    rec = make_record("formula", {"clean_accuracy": 0.5}, title='=HYPERLINK("http://x")')
    render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    row = next(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    assert row["title"] == '\'=HYPERLINK("http://x")'
    assert row["clean_accuracy"] == "0.5"


def test_pages_are_self_contained_with_a_strict_policy(hostile_site: Path) -> None:
    for page in hostile_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "default-src &#39;none&#39;" in html and "script-src &#39;sha256-" in html
        assert not re.search(
            r'(src|href)="(https?:)?//',
            html.replace('href="https://example.org', "").replace('href="https://arxiv.org/abs/', ""),
        ), page
        assert '<link rel="stylesheet"' not in html


def test_entry_page_shows_curves_transfer_gallery_flags_provenance_badge(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    records = [synthetic_record(n, i, names=names, n=50) for i, n in enumerate(names)]
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "toy" / "a.html").read_text(encoding="utf-8")
    curves = sum(len(s.get("curves", {})) for s in records[0].details.values() if isinstance(s, dict))
    assert page.count('<svg class="plot"') == curves == 2
    assert page.count("<polyline") >= curves
    column = page.split('class="transfer-column"')[1].split("</table>")[0]
    row = page.split('class="transfer-row"')[1].split("</table>")[0]
    for i, other in [(1, "b"), (2, "c")]:  # its column (a as target) and row (a as source), linked
        assert f"{100 * records[0].details['transfer']['as_target'][other]:.1f}%" in column
        # a target's own record wins over the source's as_source (it is the one evaluated)
        assert f"{100 * records[i].details['transfer']['as_target']['a']:.1f}%" in row
        assert f'href="../toy/{other}.html"' in column
    images = re.findall(r'<img src="\.\./(img/[0-9a-f]{24}\.png)"', page)
    assert len(images) == 4 and "data:image/png" not in page  # by file, not inline
    for rel in images:  # each written once, at the path named by its content
        data = (tmp_path / rel).read_bytes()
        assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest()[:24] in rel
    assert records[0].provenance.checkpoint_sha256 in page
    assert "[![robex toy: AutoAttack acc." in page and "](toy/a.svg)](toy/a.html)" in page
    assert (tmp_path / "toy" / "a.svg").read_text().startswith("<svg")
    heat = (tmp_path / "toy" / "_transfer.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<td class="heat-\d+', heat)) == 6  # 3×3 minus the diagonal
    assert len(re.findall(r'<td class="[^"]*\bdiag\b', heat)) == 3  # the white-box diagonal, outlined
    assert "white-box diagonal" in heat  # and said so in the legend


def test_rendering_is_deterministic_and_removes_stale_pages(tmp_path: Path) -> None:
    records = golden_records()
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    first = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    second = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first == second
    render_records([r for r in records if r.name != "alpha"], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    assert not (tmp_path / "toy" / "alpha.html").exists() and (tmp_path / "toy" / "beta.html").exists()


def test_render_site_reads_the_records_folder_and_lists_quick_runs_apart(tmp_path: Path) -> None:
    for r in golden_records():
        write_record(r, tmp_path / "results")
    index = render_site(tmp_path / "results", tmp_path / "site")
    html = index.read_text(encoding="utf-8")
    assert 'href="quick.html"' in html
    assert "smoke" in (tmp_path / "site" / "quick.html").read_text(encoding="utf-8")
    assert (tmp_path / "site" / "toy" / "smoke.quick.html").is_file()


def test_unregistered_scores_show_on_the_entry_page_only(tmp_path: Path) -> None:
    rec = make_record("x", {"clean_accuracy": 0.9, "mystery_score": 0.3})
    render_records([rec], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    assert 'data-score="mystery_score"' not in (tmp_path / "index.html").read_text()
    assert 'data-score="mystery_score"' in (tmp_path / "toy" / "x.html").read_text()


def test_csv_and_json_carry_the_index_bands(tmp_path: Path) -> None:
    render_records(golden_records(), tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text(encoding="utf-8"))))
    assert [(r["entry"], r["band"]) for r in rows if r["ranked"] == "True"] == [
        ("beta", "1"),
        ("gamma", "1"),
        ("hostile", "2"),
        ("alpha", "3"),
    ]
    assert {r["band"] for r in rows if r["ranked"] == "False"} == {""}
    doc = json.loads((tmp_path / "leaderboard.json").read_text(encoding="utf-8"))
    track = doc["tracks"][0]
    assert track["bands"].startswith("Ranks are bands.")
    assert {e["entry"]["name"]: e["band"] for e in track["entries"]}["masked"] is None


def test_bidi_and_control_characters_from_a_record_are_neutralised_in_every_output(tmp_path: Path) -> None:
    """Admission refuses them in manifests; a record that carries them anyway (a build's self-reported card, a
    hand-edited file) renders them as U+FFFD on every page, the badge, the CSV and the JSON."""
    from bench.results.unicode_safety import BIDI_CONTROLS

    rlo = "invoice\u202etxt.exe \u2067x\u2069 \x1b[31m"
    flag = FlagRecord(name="stage_failed", message=f"a stage crashed ({rlo})", severity="fail")
    evil = make_record(
        "evil", {"clean_accuracy": 0.9, "autoattack_accuracy": 0.5}, title=rlo, description=rlo, flags=(flag,)
    )
    evil = evil.model_copy(update={"entry": evil.entry.model_copy(update={"card": {"summary": rlo}})})
    render_records([evil, make_record("good", {"clean_accuracy": 0.8})], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    written = [p for p in tmp_path.rglob("*") if p.suffix in (".html", ".svg", ".csv", ".json")]
    assert {p.name for p in written} >= {"index.html", "evil.html", "evil.svg", "leaderboard.csv", "leaderboard.json"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        decoded = json.dumps(json.loads(text), ensure_ascii=False) if path.suffix == ".json" else text
        assert not set(decoded) & (BIDI_CONTROLS | {"\x1b"}), path
    page = (tmp_path / "toy" / "evil.html").read_text(encoding="utf-8")
    assert "invoice\ufffdtxt.exe \ufffdx\ufffd \ufffd[31m" in page
