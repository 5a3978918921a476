"""The cell store is tamper-evident: every read checks the cell's checksums; a corrupt, truncated or
unverifiable cell is quarantined with a warning that names its files and counts as absent, and every
other cell stays byte-for-byte as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from bench.protocols import StageOutput
from bench.running.store import CellMeta, CellStore, CorruptCellError, CorruptCellWarning, payload_checksum
from bench.types import Flag, ScoreValue, Severity

META = CellMeta(stage="train", entry="e", source=None, wall_time_s=1.5, device="cpu")
KEY, OTHER = "ab" + "1" * 62, "cd" + "2" * 62


def output(scale: float) -> StageOutput:
    return StageOutput(
        scores=(ScoreValue("clean_accuracy", 0.5 * scale, 10, 0.2, 0.8),),
        details={"correct": [1, 0, 1]},
        flags=(Flag("x", "m", Severity.WARN, {"a": 1.0}),),
        tensors={"w": torch.arange(1000, dtype=torch.float32) * scale},
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "cells").rglob("*")) if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> CellStore:
    s = CellStore(tmp_path)
    s.put(KEY, output(1.0), META)
    s.put(OTHER, output(2.0), META)
    return s


def test_a_cell_round_trips_with_its_checksums(store: CellStore) -> None:
    assert store.has(KEY) and not store.has("ef" + "3" * 62)
    out = store.get(KEY)
    assert out.scores == output(1.0).scores and out.flags == output(1.0).flags
    assert torch.equal(out.tensors["w"], output(1.0).tensors["w"])
    assert store.meta(KEY) == META
    data = json.loads((store.root / "cells" / "ab" / f"{KEY}.json").read_text())
    assert data["checksum"] == payload_checksum(data) and len(data["tensors_sha256"]) == 64
    with pytest.raises(KeyError):
        store.get("ef" + "3" * 62)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _edit_score(path: Path) -> None:  # valid JSON, a better score: the checksum no longer matches
    data = json.loads(path.read_text())
    data["scores"][0]["value"] = 1.0
    path.write_text(json.dumps(data))


def _drop_checksum(path: Path) -> None:  # a cell written before checksums existed
    data = json.loads(path.read_text())
    del data["checksum"]
    path.write_text(json.dumps(data))


def _swap_weights(path: Path) -> None:  # another cell's (valid) tensors file
    path.write_bytes(path.parent.parent.joinpath("cd", f"{OTHER}.safetensors").read_bytes())


CORRUPTIONS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "truncated-json": ("json", _truncate, "unreadable JSON"),
    "edited-json": ("json", _edit_score, "does not match its checksum"),
    "no-checksum": ("json", _drop_checksum, "no checksum"),
    "truncated-weights": ("safetensors", _truncate, "does not match its checksum"),
    "swapped-weights": ("safetensors", _swap_weights, "does not match its checksum"),
    "missing-weights": ("safetensors", Path.unlink, "is missing"),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupt_cell_is_quarantined_with_a_warning_that_names_it(store: CellStore, kind: str) -> None:
    suffix, corrupt, reason = CORRUPTIONS[kind]
    path = store.root / "cells" / KEY[:2] / f"{KEY}.{suffix}"
    other_before = {k: v for k, v in snapshot(store.root).items() if OTHER in k}
    assert store.has(KEY)  # verified (and its digest memoised) before the damage
    corrupt(path)
    with pytest.warns(CorruptCellWarning, match=rf"corrupt cell {KEY}.*{reason}.*{KEY}\.json"):
        assert not store.has(KEY)
    assert not (store.root / "cells" / KEY[:2] / f"{KEY}.json").exists()
    assert list((store.root / "quarantine").rglob(f"{KEY}.json"))  # kept for inspection, out of the way
    assert {k: v for k, v in snapshot(store.root).items() if OTHER in k} == other_before
    assert store.get(OTHER).scores == output(2.0).scores
    store.put(KEY, output(1.0), META)  # recomputed: usable again
    assert store.get(KEY).scores == output(1.0).scores


def test_get_on_a_corrupt_cell_raises_a_clear_error_not_a_json_error(store: CellStore) -> None:
    _truncate(store.root / "cells" / KEY[:2] / f"{KEY}.json")
    with pytest.warns(CorruptCellWarning), pytest.raises(CorruptCellError, match="quarantined"):
        store.get(KEY)


def test_a_layered_store_reads_through_to_its_base_and_writes_only_its_own_root(
    store: CellStore, tmp_path: Path
) -> None:
    before = snapshot(store.root)
    layered = CellStore(tmp_path / "staging", base=store.root)
    new = "ef" + "3" * 62
    assert layered.has(KEY) and layered.meta(KEY) == META
    assert torch.equal(layered.get(KEY).tensors["w"], output(1.0).tensors["w"])
    layered.put(new, output(3.0), META)
    assert layered.has(new) and not store.has(new)
    assert (tmp_path / "staging" / "cells" / "ef" / f"{new}.json").is_file()
    assert snapshot(store.root) == before
    with pytest.raises(PermissionError, match="read-only"):
        CellStore(store.root, read_only=True).put(new, output(3.0), META)


def test_a_corrupt_cell_of_a_read_only_base_counts_as_absent_and_stays_where_it_is(
    store: CellStore, tmp_path: Path
) -> None:
    _edit_score(store.root / "cells" / "ab" / f"{KEY}.json")
    before = snapshot(store.root)
    layered = CellStore(tmp_path / "staging", base=store.root)
    with pytest.warns(CorruptCellWarning, match=f"corrupt cell {KEY} in the read-only store"):
        assert not layered.has(KEY)
    assert snapshot(store.root) == before and not (store.root / "quarantine").exists()
    assert layered.has(OTHER)
