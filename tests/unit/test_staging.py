"""What an isolated scorer leaves in its staging store is checked before anything reaches the real store: only
the entry's own planned cells, regular files within the cap, passing the store's checksums and naming their cell,
are copied; every other file is refused with its reason and the real store stays byte-for-byte as it was."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from bench.frontends.staging import accept_cells
from bench.protocols import StageOutput
from bench.running.runner import Cell
from bench.running.store import CellMeta, CellStore, payload_checksum
from bench.types import ScoreValue
from tests.submissions import snapshot

MINE = Cell("clean", "mine", None, "a1" + "0" * 62, (), {}, 1)
MINE_PAIR = Cell("transfer", "standard", "mine", "a2" + "0" * 62, (), {}, 2)
BASELINE = Cell("train", "standard", None, "b1" + "0" * 62, (), {}, 0)
CAP = 1 << 20


def _output(value: float, tensors: bool = True) -> StageOutput:
    return StageOutput(
        scores=(ScoreValue("clean_accuracy", value, 10, 0.1, 0.9),),
        details={"correct": [1, 0]},
        tensors={"w": torch.full((8,), value)} if tensors else {},
    )


def _put(store: CellStore, cell: Cell, value: float, tensors: bool = True) -> None:
    store.put(cell.key, _output(value, tensors), CellMeta(cell.stage, cell.entry, cell.source, 1.0, "cpu"))


def _file(root: Path, key: str, ext: str) -> Path:
    return root / "cells" / key[:2] / f"{key}.{ext}"


@pytest.fixture
def stores(tmp_path: Path) -> tuple[CellStore, CellStore]:
    real, staging = CellStore(tmp_path / "real"), CellStore(tmp_path / "staging" / "store")
    _put(real, BASELINE, 0.9)
    return real, staging


def test_the_entry_s_own_cells_are_copied_byte_for_byte(stores: tuple[CellStore, CellStore]) -> None:
    real, staging = stores
    _put(staging, MINE, 0.5)
    _put(staging, MINE_PAIR, 0.25, tensors=False)
    staged = accept_cells(staging.root, real.root, {MINE.key: MINE, MINE_PAIR.key: MINE_PAIR}, CAP)
    assert sorted(staged.accepted) == sorted([MINE.key, MINE_PAIR.key]) and staged.refused == []
    for key, exts in ((MINE.key, ("json", "safetensors")), (MINE_PAIR.key, ("json",))):
        for ext in exts:
            assert _file(real.root, key, ext).read_bytes() == _file(staging.root, key, ext).read_bytes()
    assert real.get(MINE.key).scores[0].value == 0.5


def _forged_baseline(real: CellStore, staging: CellStore) -> str:
    """A valid, checksummed cell under the baseline's key claiming a perfect score: what a compromised scorer
    would write to rewrite ``standard``."""
    _put(staging, BASELINE, 0.9)
    path = _file(staging.root, BASELINE.key, "json")
    data = json.loads(path.read_text())
    data["scores"][0]["value"] = 0.01
    data["checksum"] = payload_checksum(data)
    path.write_text(json.dumps(data))
    assert staging.check(BASELINE.key) == ""  # it passes the store's own checks
    return "not a cell of the entry being scored"


def _link(real: CellStore, staging: CellStore) -> str:
    _put(staging, MINE, 0.5)
    _file(staging.root, MINE.key, "safetensors").unlink()
    _file(staging.root, MINE.key, "safetensors").symlink_to(_file(real.root, BASELINE.key, "safetensors"))
    return "a symbolic link, not a regular file"


def _fifo(real: CellStore, staging: CellStore) -> str:
    _put(staging, MINE, 0.5, tensors=False)
    _file(staging.root, MINE.key, "json").unlink()
    os.mkfifo(_file(staging.root, MINE.key, "json"))
    return "a FIFO, not a regular file"


def _edited(real: CellStore, staging: CellStore) -> str:
    _put(staging, MINE, 0.5)
    path = _file(staging.root, MINE.key, "json")
    path.write_text(path.read_text().replace("0.5", "1.0"))
    return "does not match its checksum"


def _swapped_tensors(real: CellStore, staging: CellStore) -> str:
    _put(staging, MINE, 0.5)
    _file(staging.root, MINE.key, "safetensors").write_bytes(_file(real.root, BASELINE.key, "safetensors").read_bytes())
    return "its tensors do not match their checksum"


def _oversized(real: CellStore, staging: CellStore) -> str:
    _put(staging, MINE, 0.5)
    os.truncate(_file(staging.root, MINE.key, "safetensors"), CAP + 1)
    return f"over the cap of {CAP}"


def _other_identity(real: CellStore, staging: CellStore) -> str:
    """The entry's key, but the JSON of another cell re-keyed and re-checksummed."""
    staging.put(MINE.key, _output(1.0), CellMeta("clean", "standard", None, 1.0, "cpu"))
    return "its JSON is not cell clean:mine"


def _junk(real: CellStore, staging: CellStore) -> str:
    (staging.root / "evil.txt").parent.mkdir(parents=True, exist_ok=True)
    (staging.root / "evil.txt").write_text("x")
    return "evil.txt: not a cell"


def _store_link(real: CellStore, staging: CellStore) -> str:
    staging.root.parent.mkdir(parents=True, exist_ok=True)
    staging.root.symlink_to(real.root, target_is_directory=True)
    return "a symbolic link, not the staging store's folder"


HOSTILE = {
    "forged-baseline-cell": _forged_baseline,
    "link-to-a-host-file": _link,
    "fifo": _fifo,
    "edited-json": _edited,
    "swapped-tensors": _swapped_tensors,
    "oversized": _oversized,
    "another-cell-s-json": _other_identity,
    "junk-file": _junk,
    "staging-store-is-a-link": _store_link,
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_anything_but_the_entry_s_checked_cells_is_refused(stores: tuple[CellStore, CellStore], attack: str) -> None:
    real, staging = stores
    reason = HOSTILE[attack](real, staging)
    before = snapshot(real.root)
    staged = accept_cells(staging.root, real.root, {MINE.key: MINE, MINE_PAIR.key: MINE_PAIR}, CAP)
    assert staged.accepted == [] and any(reason in line for line in staged.refused), staged.refused
    assert snapshot(real.root) == before
    assert real.get(BASELINE.key).scores[0].value == 0.9
