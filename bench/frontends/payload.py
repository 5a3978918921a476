"""What an entry that ships code may bring in its folder: declared regular files, with a size cap.

The build copies the entry folder into the sandbox, where the entry's code runs with the training split only;
a folder that also carried copies of the (public) evaluation images would hand the code a look-up table.
Admission therefore accepts in the folder of an entry that ships code only

* its manifest, its module and its weights (``checkpoint.file``, ``checkpoint.graph``), and
* the files it declares under ``payload = [...]`` (relative paths), and the cached bytecode of its Python files
  (``__pycache__/*.pyc``, left by importing them while developing),

all regular files (no links, no FIFOs, no devices), and caps the code and declared files together at
:data:`MAX_PAYLOAD_BYTES` — the defense modules shipped with robex are 8-11 KB; the 1,000 mnist5k evaluation
digits take 143-163 KB compressed (xz, gzip), the whole 5,000-digit pool 1.1 MB. Weights are not counted (their
caps belong to the artifact checks). The cap keeps a table of images out of the folder; it cannot keep one out
of weights, which is what the ``shift`` stage's check is for.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bench.manifest import EntryManifest

MAX_PAYLOAD_BYTES = 128 * 1024
MAX_FILES = 256


@dataclass(frozen=True)
class PayloadProblem:
    """Why the folder is refused: the manifest ``field`` at fault and the reason."""

    field: str
    message: str


def _declared(manifest: EntryManifest) -> tuple[set[str], set[str]]:
    """(code and declared files, whose bytes count; weights, which do not)."""
    d, ck = manifest.defense, manifest.checkpoint
    code = {p for p in ((d.module if d else None), (ck.module if ck else None)) if p}
    weights = {p for p in ((ck.file if ck else None), (ck.graph if ck else None)) if p}
    return {os.path.normpath(p) for p in (*code, *manifest.payload)}, {os.path.normpath(p) for p in weights}


def _files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """Every entry under ``folder`` (relative path, ``lstat``), links not followed; at most ``MAX_FILES + 1``."""
    out: list[tuple[str, os.stat_result]] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        for name in sorted(names) + [d for d in sorted(dirs) if (Path(root) / d).is_symlink()]:
            path = Path(root) / name
            out.append((os.path.normpath(path.relative_to(folder)), path.lstat()))
            if len(out) > MAX_FILES:
                return out
    return out


def _bytecode_of(rel: str, code: set[str]) -> bool:
    """Whether ``rel`` is Python's cached bytecode of one of the ``code`` files (``__pycache__/model.*.pyc`` of
    ``model.py``, as importing the module while developing leaves it); its bytes count like the code's."""
    path = Path(rel)
    if path.parent.name != "__pycache__" or path.suffix != ".pyc":
        return False
    source = os.path.normpath(path.parent.parent / (path.name.split(".")[0] + ".py"))
    return source in code


def payload_problem(folder: Path, manifest: EntryManifest, manifest_name: str = "entry.toml") -> PayloadProblem | None:
    """The first reason to refuse the folder of an entry that ships code (see the module docstring), else ``None``."""
    counted, weights = _declared(manifest)
    allowed = counted | weights | {manifest_name}
    total = 0
    files = _files(folder)
    if len(files) > MAX_FILES:
        return PayloadProblem("payload", f"the entry folder holds more than {MAX_FILES} files")
    for rel, st in files:
        if not stat.S_ISREG(st.st_mode):
            kind = "a link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            return PayloadProblem("payload", f"{rel!r} in the entry folder is {kind}; only regular files are accepted")
        if rel not in allowed and not _bytecode_of(rel, counted):
            return PayloadProblem(
                "payload",
                f"{rel!r} is in the entry folder but not declared: list it under payload = [...] or remove it",
            )
        total += st.st_size if rel not in weights and rel != manifest_name else 0
    present = {rel for rel, _ in files}
    missing = sorted({os.path.normpath(q) for q in manifest.payload} - present)
    if missing:
        return PayloadProblem("payload", f"{missing[0]!r} is declared but not in the entry folder")
    if total > MAX_PAYLOAD_BYTES:
        return PayloadProblem(
            "payload",
            f"the entry's code and declared files hold {total:,} bytes, more than the {MAX_PAYLOAD_BYTES:,} allowed "
            "(weights go in the checkpoint file)",
        )
    return None
