"""An entry page's details: values summarised (never raw JSON in a cell), settings as key/value rows with units,
wide tables turned on their side, every stage's values whole in a JSON file beside the page (written, linked,
removed when stale), and the page's folded sections."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from leaderboard.render import render_records
from leaderboard.synthetic import SYNTHETIC_SPECS, synthetic_record
from leaderboard.view.details import settings, stage_details, transpose, wide
from leaderboard.view.galleries import DetailTable
from leaderboard.view.text import scalar_text, value_summary

RAW_JSON = re.compile(r"\[\s*-?[\d.]+(?:\s*,\s*-?[\d.]+){2,}|\{\s*[\"']|\[\s*[\"'{\[]")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ([1, 0, 1, 1, 1, 0, 1, 1, 1, 1], "10 values, 8 ones (80.0%)"),
        ([True, False, True, True, True, True, True], "7 values, 6 ones (85.7%)"),
        ([0.25, 0.5, 0.75, 1.0, 0.0, 0.5, 0.25, 0.75], "8 values, mean 0.5"),
        ([0.0, 0.2], "0, 0.2"),
        (["cam", "saliency", "smoothgrad"], "cam, saliency, smoothgrad"),
        ([], "none"),
        ({}, "none"),
        ({"apgd-ce": 0.535, "square": 0.46}, "apgd-ce: 0.535; square: 0.46"),
        (
            {"after": [0.5] * 32, "control": [0, 1] * 16},
            "after: 32 values, mean 0.5; control: 32 values, 16 ones (50.0%)",
        ),
        ({f"source_{i}": 0.5 for i in range(30)}, "30 entries: source_0, source_1, source_2, source_3, …"),
        ([{"augment": "none", "epochs": 20}], "augment: none; epochs: 20"),
        ([float("nan")] * 9, "9 values, none finite"),
        ([1, 0, float("inf"), 1, 1, 1, 1], "7 values, 5 ones (83.3%), 1 not finite"),
    ],
)
def test_values_are_summarised_in_words(value: Any, text: str) -> None:
    assert value_summary(value) == text
    assert scalar_text(value) == text  # a table cell of details never shows JSON
    assert not RAW_JSON.search(text)


def test_settings_are_key_value_rows_with_units_and_small_mappings_flattened() -> None:
    section = {
        "steps": 100,
        "fab_steps": 50,
        "n": 200,
        "eps": 0.3,
        "robust": [1, 0, 1, 1, 0, 1, 1, 1],
        "settings": {"btr_steps": 150, "use_fab": True},
        "grid": {f"fgsm@{i}": {"by_source": {"a": 0.5}} for i in range(12)},
        "gallery": [{"images": []}],
        "curves": {},
        "table": [],
    }
    rows = dict(settings(section))
    assert rows["steps"] == "100 steps" and rows["fab_steps"] == "50 steps" and rows["n"] == "200 images"
    assert rows["eps"] == "0.3"  # no unit named by the key: none invented
    assert rows["robust"] == "8 values, 6 ones (75.0%)"
    assert rows["settings › btr_steps"] == "150 steps" and rows["settings › use_fab"] == "True"
    assert rows["grid"].startswith("12 entries: ")  # too many keys to flatten: counted
    assert not {"gallery", "curves", "table"} & set(rows)  # shown as galleries, curves and the table


def test_a_wide_table_turns_on_its_side_labelled_by_its_distinct_names() -> None:
    columns = ("accuracy", "run", *(f"metric_{i}" for i in range(10)))
    rows = (("0.9", "gradcam:location", *("1",) * 10), ("0.8", "saliency:topk", *("2",) * 10))
    table = DetailTable("manipulate", columns, rows)
    assert wide(table) and not wide(DetailTable("s", columns[:3], rows))
    turned = transpose(table)
    assert turned.columns == ("run", "gradcam:location", "saliency:topk")
    assert turned.rows[0] == ("accuracy", "0.9", "0.8") and len(turned.rows) == len(columns) - 1
    numbers = DetailTable("t", ("a", "b"), (("1", "2"), ("3", "4")))
    assert transpose(numbers).columns == ("value", "#1", "#2")  # no name column: numbered


def test_every_stage_gets_a_json_file_beside_the_page_with_all_its_values() -> None:
    record = synthetic_record("a", 0, n=40)
    details = dict(record.details)
    details["finalize:robust_accuracy"] = {"robust": [1, 0] * 20, "n": 40, "note": "</script><b>"}
    record = record.model_copy(update={"details": details})
    problems: list[str] = []
    stages = {s.stage: s for s in stage_details(record, "toy/a.html", problems)}
    assert problems == []
    assert set(stages) == {"ara", "autoattack", "clean", "finalize:robust_accuracy", "pgd", "transfer"}
    assert "explain" not in stages  # its only value is a gallery, shown as images
    robust = stages["finalize:robust_accuracy"].download
    assert robust.path == "toy/a/finalize-robust_accuracy.json" and robust.name == "finalize-robust_accuracy.json"
    assert "<" not in robust.text and ">" not in robust.text  # no markup, even from a hostile string
    doc = json.loads(robust.text)
    assert doc == {"stage": "finalize:robust_accuracy", "details": details["finalize:robust_accuracy"]}
    clean = json.loads(stages["clean"].download.text)["details"]
    assert clean["correct"] == record.details["clean"]["correct"]  # per-image results whole
    assert dict(stages["clean"].settings)["correct"].startswith("40 values, ")
    assert stages["ara"].table is not None and stages["ara"].summary == "2 settings, a table of 2 rows"


def test_rendered_entry_page_folds_its_sections_and_links_the_written_files(tmp_path: Path) -> None:
    names = ["a", "b"]
    records = [synthetic_record(n, i, names=names, n=40) for i, n in enumerate(names)]
    render_records(records, tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    page = (tmp_path / "toy" / "a.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="\.\./(toy/a/[\w.-]+\.json)" download>', page)
    assert len(links) == 5 and all((tmp_path / link).is_file() for link in links)
    assert (tmp_path / "toy" / "a" / "clean.json").stat().st_size > 40  # the per-image list, whole
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page, flags=re.S)
    assert cells and not [c for c in cells if RAW_JSON.search(c)]
    assert page.count('<details class="fold stage-details">') == 5  # one folded section per stage
    assert '<details class="fold"><summary>ara <span class="muted">— 1 curve</span>' in page  # curves folded too
    assert 'href="../about.html#score-clean_accuracy"' in page  # each score links its definition
    manifest = json.loads((tmp_path / ".robex-site.json").read_text(encoding="utf-8"))
    assert set(links) <= set(manifest)
    render_records(records[1:], tmp_path, specs=SYNTHETIC_SPECS, tracks={})
    assert not any((tmp_path / link).exists() for link in links)  # removed with the page
