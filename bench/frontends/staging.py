"""What an isolated scorer hands back, checked by the parent before any of it reaches the cell store.

The scorer (``robex run`` in the sandbox, :mod:`bench.frontends.submit`) sees the store read-only and writes the
cells it computes to a staging store, ``<staging>/store``. After it has ended, :func:`accept_cells` walks that
folder without following a link and accepts only

- files at ``cells/<key[:2]>/<key>.json`` and ``<key>.safetensors``, regular files within the size cap,
- whose ``key`` is one of the cells the parent planned for the entry being scored (its own cells and the
  transfer cells it is a source or target of — never a cell of another entry or a baseline's),
- whose JSON and tensors, as read, pass the store's own checks (:func:`~bench.running.store.payload_problem` and
  the tensors' sha256) and whose JSON names that cell's stage and entries.

Accepted cells are copied into the real store (tensors first, JSON last, atomically; a cell already there is
kept as it is) and checked there again by the store itself. Everything else is refused, each with a one-line
reason the submission log keeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.frontends.safe_files import UnsafeFileError, kind, read_file
from bench.results.atomic import atomic_write_bytes
from bench.running.runner import Cell
from bench.running.store import CellStore, payload_problem

_CELL_FILE = re.compile(r"^(?P<key>[0-9a-f]{64})\.(?P<ext>json|safetensors)$")
_SHARD = re.compile(r"^[0-9a-f]{2}$")


@dataclass
class Staged:
    """The outcome of :func:`accept_cells`: accepted cell keys, expected cells the store already held (left as they
    were) and refused paths (``path: reason``)."""

    accepted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _walk(root: Path, staged: Staged) -> dict[str, set[str]]:
    """``key -> {extensions}`` of well-placed regular cell files under ``root``; everything else is refused."""
    found: dict[str, set[str]] = {}

    def refuse(path: Path, why: str) -> None:
        staged.refused.append(f"{path.relative_to(root.parent)}: {why}")

    if not os.path.lexists(root):
        return found
    if root.is_symlink() or not root.is_dir():
        refuse(root, f"{kind(root.lstat().st_mode)}, not the staging store's folder")
        return found
    for top in sorted(root.iterdir()):
        if top.name != "cells" or top.is_symlink() or not top.is_dir():
            refuse(top, "not a cell (only cells/<kk>/<key>.json|.safetensors are taken)")
            continue
        for shard in sorted(top.iterdir()):
            if not _SHARD.match(shard.name) or shard.is_symlink() or not shard.is_dir():
                refuse(shard, f"{kind(shard.lstat().st_mode)}, not a cell folder")
                continue
            for f in sorted(shard.iterdir()):
                m = _CELL_FILE.match(f.name)
                mode = f.lstat().st_mode
                if m is None or not m["key"].startswith(shard.name):
                    refuse(f, "not a cell file name")
                elif kind(mode) != "a regular file":
                    refuse(f, f"{kind(mode)}, not a regular file")
                else:
                    found.setdefault(m["key"], set()).add(m["ext"])
    return found


def _problem(key: str, cell: Cell, files: Mapping[str, bytes]) -> str:
    """What is wrong with a staged cell's bytes (``""``: nothing): the store's checks, then its identity."""
    try:
        data = json.loads(files["json"])
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return f"unreadable JSON ({type(exc).__name__})"
    problem = payload_problem(key, data)
    if problem:
        return problem
    meta = data.get("meta")
    if not isinstance(meta, Mapping) or (meta.get("stage"), meta.get("entry"), meta.get("source")) != (
        cell.stage,
        cell.entry,
        cell.source,
    ):
        return f"its JSON is not cell {cell.label}"
    if data.get("tensor_names"):
        blob = files.get("safetensors")
        if blob is None:
            return "its tensors file is missing"
        if hashlib.sha256(blob).hexdigest() != data.get("tensors_sha256"):
            return "its tensors do not match their checksum"
    elif "safetensors" in files:
        return "a tensors file its JSON does not list"
    return ""


def accept_cells(staging: Path, store: Path, expected: Mapping[str, Cell], cap: int) -> Staged:
    """Check the staging store ``staging`` and copy its acceptable cells into ``store``; see the module docstring.

    ``expected``: key -> cell, the cells the scorer may return; ``cap``: the largest file accepted, in bytes."""
    staged = Staged()
    real = CellStore(store)
    for key, exts in sorted(_walk(staging, staged).items()):
        where = f"{staging.name}/cells/{key[:2]}/{key}"
        cell = expected.get(key)
        if cell is None:
            staged.refused.append(f"{where}: not a cell of the entry being scored")
            continue
        try:
            files = {ext: read_file(staging / "cells" / key[:2] / f"{key}.{ext}", cap) for ext in sorted(exts)}
        except UnsafeFileError as exc:
            staged.refused.append(f"{where}: {exc}")
            continue
        problem = "no JSON" if "json" not in files else _problem(key, cell, files)
        if problem:
            staged.refused.append(f"{where}: {problem}")
            continue
        if real.has(key):
            staged.kept.append(key)
            continue
        if "safetensors" in files:
            atomic_write_bytes(store / "cells" / key[:2] / f"{key}.safetensors", files["safetensors"])
        atomic_write_bytes(store / "cells" / key[:2] / f"{key}.json", files["json"])
        if real.has(key):  # the store's own check, on what it now holds (a failure is quarantined there)
            staged.accepted.append(key)
        else:
            staged.refused.append(f"{where}: failed the store's check once copied")
    return staged
