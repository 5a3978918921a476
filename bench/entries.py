"""Entries: a validated manifest plus the folder it came from (for shipped modules and checkpoints)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from bench.checkpoint import CheckpointError, load_weights, read_checkpoint
from bench.manifest import EntryManifest, ManifestError, load_manifest, parse_manifest
from bench.models import build_architecture
from bench.plugins import DEFENSES
from bench.protocols import Defense
from bench.track import Track, canonical_json

NO_ENTRY_CODE_ENV = "ROBEX_NO_ENTRY_CODE"
"""Set in every scoring process: importing an entry's own code there is refused (it runs only in the build)."""


@dataclass(frozen=True)
class Entry:
    """One leaderboard entry: its manifest and (for submissions) the folder holding its files."""

    manifest: EntryManifest
    folder: str | None = None

    @property
    def name(self) -> str:
        """The entry's name (slug)."""
        return self.manifest.name

    def to_payload(self) -> dict[str, Any]:
        """Picklable/JSON-able form (for executors that ship work to other processes)."""
        return {"manifest": self.manifest.model_dump(mode="json"), "folder": self.folder}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Entry:
        """Inverse of :meth:`to_payload`."""
        return cls(parse_manifest(payload["manifest"]), payload.get("folder"))

    def file(self, relative: str) -> Path:
        """A file shipped with the entry, refusing paths that leave its folder."""
        if self.folder is None:
            raise ManifestError(f"entry {self.name!r}: refers to {relative!r} but has no folder")
        base = Path(self.folder).resolve()
        path = (base / relative).resolve()
        if base not in path.parents and path != base:
            raise ManifestError(f"entry {self.name!r}: {relative!r} points outside the entry folder")
        return path

    @property
    def ships_code(self) -> bool:
        """Whether the entry brings its own Python code (a defense module or a model module)."""
        d, ck = self.manifest.defense, self.manifest.checkpoint
        return (d is not None and d.module is not None) or (ck is not None and ck.module is not None)

    def import_module(self) -> None:
        """Import the defense module shipped with a recipe entry (it registers its defense).

        Refused in a scoring process (``$ROBEX_NO_ENTRY_CODE``): there, entry code never runs.
        """
        ref = self.manifest.defense
        if ref is None or ref.module is None or ref.name in DEFENSES:
            return
        if os.environ.get(NO_ENTRY_CODE_ENV):
            raise ManifestError(
                f"entry {self.name!r}: its code ({ref.module}) runs only in the isolated build, never where scores "
                "are computed"
            )
        path = self.file(ref.module)
        mod_name = f"robex_entry_{self.name.replace('-', '_')}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ManifestError(f"entry {self.name!r}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        if ref.name not in DEFENSES:
            raise ManifestError(f"entry {self.name!r}: {ref.module} did not register a defense named {ref.name!r}")

    def defense(self, track: Track) -> Defense | None:
        """The entry's defense object (recipes), validated hyperparameters included."""
        ref = self.manifest.defense
        if ref is None:
            return None
        self.import_module()
        return DEFENSES.create(ref.name, track, **ref.hyperparameters)

    def recipe_fingerprint(self, track: Track) -> str:
        """Everything that determines the trained weights besides the track: the defense's name, its
        *resolved* hyperparameters (defaults and per-track defaults included) and the sha256 of its source
        module — so two manifests asking for the same recipe share cells, and editing a defense's code or
        defaults invalidates them. Checkpoint entries: the manifest's checkpoint spec (its sha256)."""
        defense = self.defense(track)
        if defense is None:
            return self.manifest.recipe_json()
        module = inspect.getmodule(type(defense))
        source = inspect.getsource(module) if module is not None else ""
        return canonical_json(
            {
                "defense": defense.name,
                "hyperparameters": defense.hp,
                "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
            }
        )

    def architecture(self, track: Track) -> str:
        """Name of the architecture the entry's model uses (``exported graph`` for graph artifacts)."""
        ck = self.manifest.checkpoint
        if ck is None:
            return track.architecture
        if ck.graph is not None:
            return "exported graph"
        return ck.architecture or f"custom ({ck.module})"

    def artifact_sha256(self) -> str:
        """The sha256 identifying the checkpoint's artifact (see :func:`bench.artifact.artifact_sha256`)."""
        from bench.artifact import artifact_sha256

        ck = self.manifest.checkpoint
        if ck is None:
            raise CheckpointError(f"entry {self.name!r} is a recipe, not a checkpoint")
        return artifact_sha256(ck.sha256, ck.graph_sha256)

    def build_checkpoint_model(self, track: Track) -> tuple[nn.Module, str]:
        """Checkpoint entries: the network with the verified weights loaded, and the weights' sha256.

        A registered architecture is built by robex; a graph artifact is parsed by robex's strict schema and
        run by its interpreter (:func:`bench.artifact.load_graph`: no torch deserialiser, nothing unpickled or
        evaluated); a model *module* is entry code and is never run here.
        """
        from bench.artifact import ArtifactError, load_graph
        from bench.checkpoint import sha256_bytes

        ck = self.manifest.checkpoint
        if ck is None:
            raise CheckpointError(f"entry {self.name!r} is a recipe, not a checkpoint")
        if ck.module is not None:
            raise CheckpointError(f"entry {self.name!r}: its model module runs only in the isolated build")
        tensors = read_checkpoint(self.file(ck.file), ck.sha256)
        where = f"entry {self.name!r}"
        if ck.graph is not None:
            data = self.file(ck.graph).read_bytes()
            if ck.graph_sha256 is None or sha256_bytes(data) != ck.graph_sha256.lower():
                raise CheckpointError(f"{where}: {ck.graph} does not match the manifest's graph_sha256")
            try:
                return load_graph(data, tensors, where, ck.randomized).eval(), ck.sha256.lower()
            except ArtifactError as exc:
                raise CheckpointError(str(exc)) from None
        model = build_architecture(ck.architecture, track, **ck.architecture_kwargs)
        return load_weights(model, tensors, where), ck.sha256.lower()


def baseline_dir(track: str) -> Path:
    """``leaderboard/entries/<track>/`` inside the installed package."""
    return Path(str(resources.files("leaderboard") / "entries" / track))


def load_entries(track: Track, names: list[str] | None = None, extra: list[Path] | None = None) -> list[Entry]:
    """The track's baseline entries (optionally only ``names``) plus submitted entry folders ``extra``."""
    entries: dict[str, Entry] = {}
    folder = baseline_dir(track.name)
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        m = load_manifest(path)
        if m.track != track.name:
            raise ManifestError(f"{path}: field 'track' is {m.track!r} but the file lives under {track.name!r}")
        entries[m.name] = Entry(m, str(path.parent))
    for path in extra or []:
        m = load_manifest(path)
        if m.track != track.name:
            raise ManifestError(f"{path}: field 'track' is {m.track!r}, not the run's track {track.name!r}")
        if m.name in entries:
            raise ManifestError(f"{path}: entry name {m.name!r} is already taken by {entries[m.name].folder}")
        entries[m.name] = Entry(m, str(Path(path) if Path(path).is_dir() else Path(path).parent))
    if names:
        unknown = sorted(set(names) - set(entries))
        if unknown:
            from bench.registry import Registry

            reg: Registry[Entry] = Registry(f"entry of track {track.name!r}")
            for k, v in entries.items():
                reg.add(k, v)
            reg.get(unknown[0])  # raises with close matches
        entries = {k: v for k, v in entries.items() if k in names}
    return [entries[k] for k in sorted(entries)]
