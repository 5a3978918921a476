"""The terminal summary of ``robex run``: at most 120 columns, rank order, the index's bands, 95% intervals, what
does not fit named, unranked records last with the reason, quick records ranked among themselves."""

from __future__ import annotations

import re

import pytest

from bench.results.bands import record_bands
from bench.results.records import FlagRecord, load_records
from bench.results.scores import score_infos
from bench.results.summary_text import WIDTH, clip, summary_table, value_text
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record, synthetic_records

INFOS = score_infos(SYNTHETIC_SPECS)


def _rows(text: str) -> list[list[str]]:
    """The table rows (band, entry, …) of a one-track summary."""
    lines = text.splitlines()
    body = lines[3 : 3 + sum(1 for line in lines[3:] if re.match(r"^\s*(\d+|—)\s{2}", line))]
    return [re.split(r"\s{2,}", line.strip()) for line in body]


def test_rank_order_bands_and_intervals_within_120_columns() -> None:
    records = synthetic_records(10, n=120)
    text = summary_table(records, INFOS)
    assert max(map(len, text.splitlines())) <= WIDTH
    rows = _rows(text)
    names = [r[1] for r in rows]
    ranked = sorted((r for r in records if r.ranked), key=lambda r: (-(r.score("autoattack_accuracy") or 0.0), r.name))
    assert names[: len(ranked)] == [r.name for r in ranked]  # best first
    bands = {b.name: str(b.band) for b in record_bands(ranked, "autoattack_accuracy")}
    assert [r[0] for r in rows[: len(ranked)]] == [bands[n] for n in names[: len(ranked)]]
    assert rows[-1][:2] == ["—", "entry_009"] and rows[-1][-1] == "flagged: gradient_masking"
    assert "—: not ranked (why: under Flags)" in text
    header = text.splitlines()[1]
    assert header.split()[:3] == ["Band", "Entry", "AutoAttack"]  # the ranking score first
    aa = records[0].scores["autoattack_accuracy"]
    assert value_text(records[0], INFOS["autoattack_accuracy"]) == (
        f"{100 * aa.value:.1f}% [{100 * aa.ci_low:.1f}, {100 * aa.ci_high:.1f}]"  # type: ignore[operator]
    )
    assert value_text(records[0], INFOS["autoattack_accuracy"]) in text


@pytest.mark.parametrize("width", [120, 90, 60])
def test_columns_that_do_not_fit_are_named_not_cut(width: int) -> None:
    names = [f"a_very_long_entry_name_that_goes_on_{i}" for i in range(3)]
    records = [synthetic_record(n, i, names=names, n=50) for i, n in enumerate(names)]
    text = summary_table(records, INFOS, width=width)
    assert max(map(len, text.splitlines())) <= width
    shown = text.splitlines()[1]
    titles = ["AutoAttack acc. ↑", "Clean acc. ↑", "ARA ↑", "Deletion AUC ↓"]
    missing = [t for t in titles if t not in shown]
    assert titles[0] in shown  # the ranking score always shows
    if missing:
        assert f"Not shown (to fit {width} columns): {', '.join(missing)}" in " ".join(text.split("\n"))
    assert names[0] not in text and re.search(r"a_very_long_entry\w*…", text)  # long names cut with …
    assert clip(names[0], 12) == "a_very_long…"


def test_quick_records_are_ranked_among_themselves_and_said_to_be() -> None:
    records = [synthetic_record(f"q{i}", i, n=40, quick=True) for i in range(3)]
    text = summary_table(records, INFOS)
    assert text.startswith("toy (quick mode): 3 records")
    assert "never on the leaderboard" in text
    assert all(r[0].isdigit() for r in _rows(text))


def test_a_flag_and_a_failed_run_show_in_the_flags_column() -> None:
    warn = FlagRecord(name="high_eps_accuracy", message="m", severity="warn")
    records = [
        synthetic_record("ok", 0, n=40, flags=[warn]),
        synthetic_record("broken", 1, n=40, status="failed"),
    ]
    rows = {r[1]: r for r in _rows(summary_table(records, INFOS))}
    assert rows["ok"][-1] == "high_eps_accuracy" and rows["ok"][0] == "1"
    assert rows["broken"][0] == "—" and rows["broken"][-1] == "failed"


def test_the_committed_records_fit_120_columns() -> None:
    records = load_records("leaderboard/results")
    text = summary_table(records, score_infos())
    assert max(map(len, text.splitlines())) <= WIDTH
    assert {line.split(":")[0] for line in text.splitlines() if re.match(r"^[\w-]+: \d+ records$", line)} == {
        r.track for r in records
    }
