"""Helpers of the submission tests: a results folder with existing records, entry folders, snapshots."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

HEAD = 'title = "t"\nauthors = "a"\ntrack = "mnist5k"\n'


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class World:
    """A results folder, a cell store and a site folder, as a maintainer's machine holds them."""

    root: Path
    store: Path
    results: Path
    site: Path

    def snapshot(self) -> dict[str, bytes]:
        """Every record file."""
        return snapshot(self.results)

    def submit(self, path: Path, *extra: str) -> list[str]:
        """``robex submit`` arguments for ``path`` in quick mode on the CPU."""
        return [
            "submit",
            str(path),
            "--quick",
            "--device",
            "cpu",
            "--store",
            str(self.store),
            "--results",
            str(self.results),
            "--site",
            str(self.site),
            *extra,
        ]


def world_with_standard(root: Path, store: Path) -> World:
    """A :class:`World` under ``root`` whose results folder holds the standard baseline's quick record (clean and
    PGD, from ``store``): the "existing records" a submission must leave untouched."""
    from bench.frontends.api import run_track

    w = World(root, store, root / "results", root / "site")
    run_track(
        "mnist5k",
        entries=["standard"],
        store=w.store,
        results_root=w.results,
        quick=True,
        device="cpu",
        stages=["clean", "pgd"],
        executor_options={"show_progress": False},
    )
    return w


def write_entry(folder: Path, manifest: str, module: str | None = None, filename: str = "defense.py") -> Path:
    """An entry folder holding ``entry.toml`` (and a module)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "entry.toml").write_text(textwrap.dedent(manifest))
    if module is not None:
        (folder / filename).write_text(textwrap.dedent(module))
    return folder
