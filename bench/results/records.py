"""Result records: one JSON per entry and track (``leaderboard/results/<track>/<entry>.json``).

Typed, versioned (``schema_version``), numbers stored as numbers, written atomically. The leaderboard is
rendered from these records alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.results.atomic import atomic_write_json
from bench.results.details import check_details

SCHEMA_VERSION: Literal[1] = 1


class RecordError(ValueError):
    """A record file is malformed or of another schema version."""


class ScoreRecord(BaseModel):
    """One score: value, number of images, optional 95% interval."""

    model_config = ConfigDict(extra="forbid")
    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


class FlagRecord(BaseModel):
    """A sanity flag with its one-line explanation."""

    model_config = ConfigDict(extra="forbid")
    name: str
    message: str
    severity: Literal["info", "warn", "fail"] = "warn"
    evidence: dict[str, float] = Field(default_factory=dict)


class ReferenceRecord(BaseModel):
    """A published number for one score: value, who published it, and under which protocol."""

    model_config = ConfigDict(extra="forbid")
    score: str
    value: float
    source: str
    url: str
    protocol: str


class EntryInfo(BaseModel):
    """What the entry is (copied from its manifest and its defense card)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str
    authors: str
    paper_url: str = ""
    venue: str = ""
    license: str = ""
    description: str = ""
    kind: Literal["recipe", "checkpoint"]
    defense: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    architecture: str = ""
    card: dict[str, Any] = Field(default_factory=dict)
    claimed: dict[str, float] = Field(default_factory=dict)
    # What an entry's own build said of its training (epochs, steps, runs): its claim, which robex did not observe
    # (robex's own account of training is ``details.train``).
    claimed_training: dict[str, Any] = Field(default_factory=dict)
    baseline: bool = False
    references: list[ReferenceRecord] = Field(default_factory=list)


class Provenance(BaseModel):
    """Everything needed to reproduce or audit the numbers."""

    model_config = ConfigDict(extra="forbid")
    seed: int
    track_version: str
    track_sha256: str
    subset_sha256: str
    checkpoint_sha256: str = ""
    artifact_sha256: str = ""  # the scored artifact (weights, or graph + weights); see bench.artifact
    isolation: str = ""  # how the entry's own code was isolated when it was built ("" when it ships none)
    packages: dict[str, str] = Field(default_factory=dict)
    device: str = ""
    wall_time_s: dict[str, float] = Field(default_factory=dict)
    cell_keys: dict[str, str] = Field(default_factory=dict)
    images: dict[str, int] = Field(default_factory=dict)


class Record(BaseModel):
    """One entry on one track."""

    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = SCHEMA_VERSION
    track: str
    entry: EntryInfo
    quick: bool = False
    status: Literal["ok", "partial", "failed"] = "ok"
    errors: dict[str, str] = Field(default_factory=dict)
    scores: dict[str, ScoreRecord] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    flags: list[FlagRecord] = Field(default_factory=list)
    provenance: Provenance

    @field_validator("details")
    @classmethod
    def _typed_details(cls, details: dict[str, Any]) -> dict[str, Any]:
        """Check every section against its shape (:mod:`bench.results.details`); the data is kept as read."""
        check_details(details)
        return details

    @property
    def name(self) -> str:
        """The entry's name."""
        return self.entry.name

    def score(self, name: str) -> float | None:
        """The value of score ``name`` or ``None``."""
        s = self.scores.get(name)
        return None if s is None else s.value

    def exclusion(self, *, include_quick: bool = False) -> str:
        """Why this record may not be ranked whatever the score ("" when it may): a quick run (unless
        ``include_quick``), a failed run, a ``fail``-severity flag, or a partial run (a stage crashed). The one
        ranking rule of robex; see
        :func:`bench.results.ranking.unranked_reason`."""
        if self.quick and not include_quick:
            return "quick run"
        if self.status == "failed":
            return "failed"
        fails = sorted(f.name for f in self.flags if f.severity == "fail")
        if fails:
            return "flagged: " + ", ".join(fails)
        return f"partial: {', '.join(sorted(self.errors)) or 'a stage'} failed" if self.status == "partial" else ""

    @property
    def ranked(self) -> bool:
        """Whether the entry may be ranked as clean: full (not quick) run and no ``fail`` flag."""
        return not self.exclusion()


def record_path(root: Path, track: str, entry: str, *, quick: bool = False) -> Path:
    """``<root>/<track>/<entry>.json`` (``<entry>.quick.json`` for quick-mode records, so a smoke run never
    overwrites a full record)."""
    return Path(root) / track / f"{entry}{'.quick' if quick else ''}.json"


def write_record(record: Record, root: Path) -> Path:
    """Write ``record`` atomically under ``root``; return the path."""
    path = record_path(root, record.track, record.entry.name, quick=record.quick)
    atomic_write_json(path, record.model_dump(mode="json"))
    return path


def read_record(path: str | Path) -> Record:
    """Read and validate one record."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{p}: unreadable record: {exc}") from None
    if data.get("schema_version") != SCHEMA_VERSION:
        raise RecordError(f"{p}: schema_version {data.get('schema_version')!r}, this robex reads {SCHEMA_VERSION}")
    try:
        return Record.model_validate(data)
    except ValidationError as err:
        fields = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in err.errors())
        raise RecordError(f"{p}: {fields}") from None


def load_records(root: str | Path, track: str | None = None) -> list[Record]:
    """Every record under ``root`` (optionally one track), sorted by (track, entry)."""
    base = Path(root)
    pattern = f"{track}/*.json" if track else "*/*.json"
    records = [read_record(p) for p in sorted(base.glob(pattern)) if not p.name.startswith("_")]
    return sorted(records, key=lambda r: (r.track, r.entry.name))
