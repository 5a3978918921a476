"""The page of one record: scores by group, flags, plots, transfer, galleries, card and provenance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.results.places import published_checkpoints_root
from bench.results.ranking import Ranked
from bench.results.records import Record, ReferenceRecord
from bench.results.scores import ScoreInfo, info_for, ordered_scores
from leaderboard.view.badge import BadgeSvg, badge
from leaderboard.view.checkpoint import CheckpointLink, checkpoint_link
from leaderboard.view.cost import Cost, entry_cost
from leaderboard.view.details import Download, StageDetails, stage_details
from leaderboard.view.galleries import Gallery, galleries
from leaderboard.view.plots import Plot, plots
from leaderboard.view.tables import Badge, flag_badges, page_path, reference_gap
from leaderboard.view.text import compact_interval, interval_text, safe_url, scalar_text
from leaderboard.view.transfer import TransferLine, lowest_text, transfer_line_items


@dataclass(frozen=True)
class ScoreLine:
    """A score on an entry page."""

    info: ScoreInfo
    arrow: str
    text: str
    interval: str
    claimed: str
    claimed_delta: str
    reference: ReferenceRecord | None = None
    reference_text: str = ""
    reference_gap: str = ""
    ci: str = ""  # the compact 95% interval, ``[94.7, 97.4]`` ("" without one)
    n: str = ""  # the images (or other units) the score was measured on


@dataclass(frozen=True)
class FlagView:
    """A sanity flag with its explanation and evidence."""

    name: str
    severity: str
    message: str
    evidence: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EntryPage:
    """Everything an entry's page shows."""

    record: Record
    path: str
    paper_url: str
    card_url: str
    rank: str
    total: int
    reason: str
    sort_title: str
    badges: tuple[Badge, ...]
    score_groups: tuple[tuple[str, tuple[ScoreLine, ...]], ...]
    claimed_unknown: tuple[tuple[str, str], ...]
    flags: tuple[FlagView, ...]
    plots: tuple[tuple[str, tuple[Plot, ...]], ...]
    transfer_column: tuple[TransferLine, ...]
    transfer_row: tuple[TransferLine, ...]
    transfer_attack: str
    transfer_eps: str
    galleries: tuple[Gallery, ...]
    details: tuple[StageDetails, ...]
    hyperparameters: tuple[tuple[str, str], ...]
    card: tuple[tuple[str, str], ...]
    claimed_training: tuple[tuple[str, str], ...]  # the build's account of its own training: a claim, not measured
    provenance: tuple[tuple[str, str], ...]
    packages: tuple[tuple[str, str], ...]
    stages: tuple[tuple[str, str], ...]
    errors: tuple[tuple[str, str], ...]
    problems: tuple[str, ...]
    badge: BadgeSvg
    threat: str = ""
    stale: str = ""  # why the record is out of date with the installed track ("" when current)
    cost: Cost | None = None
    checkpoint: CheckpointLink | None = None  # the published weights the record was scored on

    @property
    def has_claims(self) -> bool:
        """Whether any score has a claimed value (the score tables show the claimed columns only then)."""
        return any(s.claimed for _, lines in self.score_groups for s in lines)

    @property
    def gallery_folds(self) -> tuple[tuple[str, tuple[Gallery, ...]], ...]:
        """Every gallery row but the first (shown open), by stage, for the folded sections."""
        out: dict[str, list[Gallery]] = {}
        for g in self.galleries[1:]:
            out.setdefault(g.stage, []).append(g)
        return tuple((stage, tuple(gs)) for stage, gs in out.items())

    @property
    def transfer_summary(self) -> str:
        """The folded transfer section's one line: how many counterparts each way and the lowest accuracy."""
        parts = []
        if self.transfer_column:
            low = lowest_text(self.transfer_column)
            parts.append(f"this entry on examples from {len(self.transfer_column)} sources: lowest {low}")
        if self.transfer_row:
            low = lowest_text(self.transfer_row)
            parts.append(f"{len(self.transfer_row)} targets on its examples: lowest {low}")
        return "; ".join(parts)

    @property
    def downloads(self) -> tuple[Download, ...]:
        """The files written beside the page (each details section's JSON)."""
        return tuple(d.download for d in self.details)


def score_lines(record: Record, infos: Mapping[str, ScoreInfo]) -> tuple[tuple[str, tuple[ScoreLine, ...]], ...]:
    """Every score of a record (primary or not), grouped by category in column order."""
    groups: dict[str, list[ScoreLine]] = {}
    for info in ordered_scores(record.scores, infos):
        value = record.score(info.name)
        claimed = record.entry.claimed.get(info.name)
        delta = "" if claimed is None or value is None else info.unit.difference_text(value - claimed)
        found = reference_gap(record, info)
        ref, gap = found if found is not None else (None, None)
        groups.setdefault(info.category, []).append(
            ScoreLine(
                info,
                info.arrow,
                info.unit.text(value),
                interval_text(record, info),
                info.unit.text(claimed) if claimed is not None else "",
                delta,
                ref,
                info.unit.text(ref.value) if ref is not None else "",
                info.unit.difference_text(gap) if gap is not None else "",
                compact_interval(record, info),
                str(record.scores[info.name].n) if info.name in record.scores else "",
            )
        )
    return tuple((k, tuple(v)) for k, v in groups.items())


def _pairs(mapping: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), scalar_text(v)) for k, v in sorted(mapping.items()))


def entry_page(
    placed: Ranked,
    total: int,
    infos: Mapping[str, ScoreInfo],
    sort: str | None,
    transfer: tuple[Mapping[str, Mapping[str, float]], Mapping[str, Mapping[str, float]]],
    transfer_meta: tuple[str, str],
    pages: Mapping[str, str],
    base_url: str = "",
    threat: str = "",
    stale: str = "",
) -> EntryPage:
    """The page of one record (``transfer``: the track's matrix indexed by :func:`index_matrix`; ``threat``: the
    track's threat model in words, ``""`` when the track is not installed)."""
    r = placed.record
    problems: list[str] = []
    sort_info = info_for(sort, infos) if sort else None
    column = transfer_line_items(transfer[0].get(r.name, {}), pages)
    row = transfer_line_items(transfer[1].get(r.name, {}), pages)
    card = dict(r.entry.card)
    card_url = safe_url(str(card.pop("url", "") or ""))
    p = r.provenance
    provenance = (
        ("seed", str(p.seed)),
        ("track version", p.track_version),
        ("track sha256", p.track_sha256),
        ("evaluation subset sha256", p.subset_sha256),
        ("weights sha256", p.checkpoint_sha256 or "—"),
        ("artifact sha256", p.artifact_sha256 or "—"),
        ("entry code isolated by", p.isolation or "— (no entry code)"),
        ("device", p.device or "—"),
    )
    stages = tuple((s, p.cell_keys[s]) for s in sorted(p.cell_keys))
    claimed_unknown = tuple((k, scalar_text(v)) for k, v in sorted(r.entry.claimed.items()) if k not in r.scores)
    return EntryPage(
        record=r,
        path=page_path(r),
        paper_url=safe_url(r.entry.paper_url),
        card_url=card_url,
        rank=str(placed.rank) if placed.rank is not None else "—",
        total=total,
        reason=placed.reason,
        sort_title=sort_info.title if sort_info else "",
        badges=flag_badges(r),
        score_groups=score_lines(r, infos),
        claimed_unknown=claimed_unknown,
        flags=tuple(
            FlagView(f.name, f.severity, f.message, tuple((k, f"{v:.4g}") for k, v in sorted(f.evidence.items())))
            for f in sorted(r.flags, key=lambda f: ({"fail": 0, "warn": 1}.get(f.severity, 2), f.name))
        ),
        plots=tuple((stage, tuple(ps)) for stage, ps in plots(r, problems)),
        transfer_column=tuple(column),
        transfer_row=tuple(row),
        transfer_attack=transfer_meta[0],
        transfer_eps=transfer_meta[1],
        galleries=tuple(galleries(r, problems)),
        details=stage_details(r, page_path(r), problems),
        hyperparameters=_pairs(r.entry.hyperparameters),
        card=_pairs(card),
        claimed_training=_pairs(r.entry.claimed_training),
        provenance=provenance,
        packages=_pairs(p.packages),
        stages=stages,
        errors=tuple(sorted(r.errors.items())),
        problems=tuple(problems),
        badge=badge(placed, total, sort_info, base_url),
        threat=threat,
        stale=stale,
        cost=entry_cost(p),
        checkpoint=checkpoint_link(r, published_checkpoints_root()),
    )
