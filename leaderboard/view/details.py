"""An entry page's details, stage by stage: the stage's settings as key/value rows (with the unit its key names),
its table (turned on its side when it has far more columns than rows), and every value of the stage — per-image
results included — as a JSON file written beside the page. A table cell or a setting never holds raw JSON: a list
or mapping is summarised (:func:`~leaderboard.view.text.value_summary`) and the file holds it whole."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.results.records import Record
from leaderboard.view.galleries import DetailTable, detail_tables
from leaderboard.view.text import finite_number, scalar_text, sections, slug

# Units named by a setting's key (its last ``_``-separated word, or the whole key), after numeric values.
KEY_UNITS: Mapping[str, str] = {
    "s": "s",
    "seconds": "s",
    "n": "images",
    "images": "images",
    "steps": "steps",
    "epochs": "epochs",
    "restarts": "restarts",
    "draws": "draws",
    "bytes": "bytes",
}
NOT_SETTINGS = ("gallery", "curves", "table")  # shown elsewhere on the page (galleries, curves) or as the table
FLATTEN_MAX = 10  # a mapping of at most this many keys becomes one row per key
TRANSPOSE_MIN_COLUMNS = 8  # a table with at least this many columns, and more than twice as many as rows, turns


@dataclass(frozen=True)
class Download:
    """A file written beside an entry page: its path relative to the site root and its text."""

    path: str
    text: str

    @property
    def name(self) -> str:
        """The file's name (the link text)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def size_text(self) -> str:
        """``12.3 kB`` (or bytes below one kB)."""
        size = len(self.text.encode("utf-8"))
        return f"{size} bytes" if size < 1000 else f"{size / 1000:.1f} kB"


@dataclass(frozen=True)
class StageDetails:
    """One stage's section of an entry page's details."""

    stage: str
    settings: tuple[tuple[str, str], ...]
    table: DetailTable | None
    transposed: bool
    download: Download

    @property
    def summary(self) -> str:
        """What the folded section holds, for its ``<summary>``."""
        parts = [f"{len(self.settings)} setting{'s' if len(self.settings) != 1 else ''}"] if self.settings else []
        if self.table is not None:
            rows = len(self.table.columns) - 1 if self.transposed else len(self.table.rows)
            parts.append(f"a table of {rows} row{'s' if rows != 1 else ''}")
        return ", ".join(parts) or "no values shown here"


def unit_of(key: str, value: Any) -> str:
    """The unit a setting's key names, for a numeric value (``""`` otherwise).

    >>> unit_of("steps", 100), unit_of("fab_steps", 50), unit_of("eps", 0.3), unit_of("n", "all")
    ('steps', 'steps', '', '')
    """
    if finite_number(value) is None:
        return ""
    return KEY_UNITS.get(key, KEY_UNITS.get(key.rsplit("_", 1)[-1], ""))


def setting_text(key: str, value: Any) -> str:
    """A setting's value with its unit: ``100 steps``, ``0.3``, ``800 values, 612 ones (76.5%)``."""
    unit = unit_of(key, value)
    return f"{scalar_text(value)} {unit}" if unit else scalar_text(value)


def settings(section: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A stage's values other than its galleries, curves and table as (key, text) rows, in key order; a mapping of
    at most :data:`FLATTEN_MAX` keys gives one row per key (``radii › attack``)."""
    rows: list[tuple[str, str]] = []
    for key, value in sorted(section.items()):
        if key in NOT_SETTINGS:
            continue
        if isinstance(value, Mapping) and 0 < len(value) <= FLATTEN_MAX:
            rows.extend((f"{key} › {k}", setting_text(str(k), v)) for k, v in value.items())
        else:
            rows.append((str(key), setting_text(str(key), value)))
    return tuple(rows)


def _label_column(table: DetailTable) -> int | None:
    """The first column whose values tell the rows apart and are not numbers (a run's name), else ``None``."""
    for i in range(len(table.columns)):
        values = [row[i] for row in table.rows]
        if len(set(values)) == len(values) and not any(_is_number(v) for v in values):
            return i
    return None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def transpose(table: DetailTable) -> DetailTable:
    """``table`` on its side: a row per former column, a column per former row headed by the row's label (its
    first column of distinct non-numeric values, else ``#1``, ``#2``, …)."""
    label = _label_column(table)
    heads = [row[label] if label is not None else f"#{i + 1}" for i, row in enumerate(table.rows)]
    first = table.columns[label] if label is not None else "value"
    rows = tuple((column, *(row[j] for row in table.rows)) for j, column in enumerate(table.columns) if j != label)
    return DetailTable(table.stage, (first, *heads), rows)


def wide(table: DetailTable) -> bool:
    """Whether ``table`` reads better on its side (many more columns than rows)."""
    return len(table.columns) >= TRANSPOSE_MIN_COLUMNS and len(table.columns) > 2 * len(table.rows)


def _json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as ``null`` (JSON has no NaN) and tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def stage_json(stage: str, section: Mapping[str, Any]) -> str:
    """Every value of a stage but its galleries (the images are on the page) as JSON, keys sorted; ``<``, ``>`` and
    ``&`` escaped so no browser could read the file as markup."""
    body = {"stage": stage, "details": _json_safe({k: v for k, v in section.items() if k != "gallery"})}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


def file_stem(stage: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem for a stage's JSON file (``a:b`` → ``a-b``; a clash or an unsafe name: a hash).

    >>> taken = set(); file_stem("ara", taken), file_stem("finalize:robust_accuracy", taken)
    ('ara', 'finalize-robust_accuracy')
    """
    stem = slug(stage.replace(":", "-"))
    if stem in taken:
        stem = "x-" + hashlib.sha256(stage.encode("utf-8")).hexdigest()[:12]
    taken.add(stem)
    return stem


def stage_details(record: Record, page_path: str, problems: list[str]) -> tuple[StageDetails, ...]:
    """A section per stage of ``record`` with anything to show, its JSON file under the folder named like the page
    (``mnist5k/pgd_at.html`` → ``mnist5k/pgd_at/ara.json``)."""
    tables = {t.stage: t for t in detail_tables(record, problems)}
    folder = page_path.removesuffix(".html")
    taken: set[str] = set()
    out = []
    for stage, section in sections(record):
        rows = settings(section)
        table = tables.get(stage)
        if not rows and table is None:
            continue
        turned = table is not None and wide(table)
        shown = transpose(table) if table is not None and turned else table
        download = Download(f"{folder}/{file_stem(stage, taken)}.json", stage_json(stage, section))
        out.append(StageDetails(stage, rows, shown, turned, download))
    return tuple(out)
