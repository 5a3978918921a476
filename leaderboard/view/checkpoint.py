"""The published checkpoint an entry page links: the weights the record was scored on, copied into the site when the
clone holds them with the sha256 the record names (``details.train.published``, :mod:`bench.published`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from bench.results.records import Record

_FILE = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*\.safetensors$")


@dataclass(frozen=True)
class CheckpointLink:
    """``href`` (relative to the site root; ``""`` when the file is not available to copy), the file's name in the
    checkpoints folder, its sha256 and size; ``source`` is the file the site writer copies."""

    file: str
    sha256: str
    size: int
    href: str = ""
    source: Path | None = None

    @property
    def size_text(self) -> str:
        """Size in kB/MB.

        >>> CheckpointLink("t/e.safetensors", "0" * 64, 385_512).size_text
        '386 kB'
        """
        return f"{self.size / 1e6:.1f} MB" if self.size >= 1e6 else f"{self.size / 1e3:.0f} kB"


def checkpoint_link(record: Record, folder: Path | None) -> CheckpointLink | None:
    """The record's published checkpoint, linked when ``folder`` holds it with the recorded sha256 and size."""
    published = record.details.get("train", {}).get("published")
    if not isinstance(published, dict):
        return None
    file, sha, size = str(published.get("file", "")), str(published.get("sha256", "")), published.get("size")
    if not _FILE.match(file) or not re.fullmatch(r"[0-9a-f]{64}", sha) or not isinstance(size, int):
        return None
    link = CheckpointLink(file, sha, size)
    path = None if folder is None else folder / file
    if path is None or not path.is_file() or path.is_symlink() or path.stat().st_size != size:
        return link
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        return link
    return CheckpointLink(file, sha, size, href=f"checkpoints/{file}", source=path)
