"""Where records and the site live by default, and what the site shows about a track besides its records."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from bench.registry import RegistryError
from bench.results.labels import threat_model_sentence, threat_model_text
from bench.track import DEFAULT_TRACK, TrackError, load_track


def _leaderboard_dir() -> Path:
    import leaderboard  # the package that holds the records (imported here: it imports this layer)

    return Path(leaderboard.__file__).parent


def default_results_root() -> Path:
    """``leaderboard/results`` of the installed (editable) package."""
    return _leaderboard_dir() / "results"


def published_checkpoints_root() -> Path:
    """``leaderboard/checkpoints`` of the installed (editable) package: the baselines' published weights."""
    return _leaderboard_dir() / "checkpoints"


def default_site_root() -> Path:
    """``leaderboard/site`` of the installed (editable) package."""
    return _leaderboard_dir() / "site"


def user_results_root() -> Path:
    """Where ``robex run`` writes a user's records by default: ``$ROBEX_RESULTS``, else ``results`` in the
    platform's user data folder (e.g. ``~/.local/share/robex/results``) — never the committed records of a clone."""
    env = os.environ.get("ROBEX_RESULTS")
    return Path(env) if env else Path(platformdirs.user_data_dir("robex")) / "results"


def user_site_root() -> Path:
    """Where ``robex run`` renders the site of a user's records: ``site`` beside :func:`user_results_root`."""
    return site_beside(user_results_root())


def site_beside(results_root: str | Path) -> Path:
    """The site of a records folder when no ``--site`` is given: ``site`` beside it (``leaderboard/results`` →
    ``leaderboard/site``), so rendering the records of one folder never replaces another folder's site.

    >>> site_beside("/data/robex/results").as_posix()
    '/data/robex/site'
    """
    return Path(os.path.abspath(results_root)).parent / "site"


def record_roots(results_root: str | Path | None) -> list[Path]:
    """Where commands that read a record look for it: ``results_root`` when given; else the user's records
    (where ``robex run`` and ``robex submit`` write) and then the clone's committed ones."""
    if results_root:
        return [Path(results_root)]
    user, committed = user_results_root(), default_results_root()
    return [user] if user.resolve() == committed.resolve() else [user, committed]


def track_order(track: str) -> tuple[bool, str]:
    """Sort key of tracks on the site: the default track (the one ``robex run`` builds) first, then by name.

    >>> sorted(["mnist", "fashion-mnist", "mnist5k"], key=track_order)
    ['mnist5k', 'fashion-mnist', 'mnist']
    """
    return (track != DEFAULT_TRACK, track)


@dataclass(frozen=True)
class TrackInfo:
    """What the site shows about a track besides its records (from ``bench/tracks/*.toml`` when installed)."""

    title: str
    threat: str
    description: str = ""
    version: str = ""
    fingerprint: str = ""  # sha256 of the installed track file ("" when unknown)

    def stale_note(self, record_version: str, record_sha256: str) -> str:
        """Why a record of this track is out of date ("" when it was made under the installed definition, or when
        that definition is unknown).

        >>> info = TrackInfo("MNIST", "linf:0.3", version="2.0", fingerprint="b" * 64)
        >>> info.stale_note("1.1", "a" * 64)
        'produced under track version 1.1; the installed definition is 2.0, so its numbers change on regeneration'
        >>> info.stale_note("2.0", "b" * 64)
        ''
        """
        if not self.fingerprint or record_sha256 == self.fingerprint:
            return ""
        if record_version != self.version:
            return (
                f"produced under track version {record_version}; the installed definition is {self.version}, "
                "so its numbers change on regeneration"
            )
        return f"produced under an edited definition of track version {record_version} (its sha256 differs)"

    @property
    def threat_text(self) -> str:
        """The threat model for readers (``ℓ∞, ε = 0.3``)."""
        return threat_model_text(self.threat)

    @property
    def threat_sentence(self) -> str:
        """The threat model in words (``ℓ∞, ε = 0.3: an attacker may move each pixel by at most ε = 0.3 …``)."""
        return threat_model_sentence(self.threat)


def track_infos(names: Iterable[str]) -> dict[str, TrackInfo]:
    """Title and threat model of the installed tracks among ``names`` (unknown tracks are left out)."""
    out = {}
    for name in names:
        try:
            t = load_track(name)
        except (RegistryError, TrackError, ValueError, OSError):
            continue
        out[name] = TrackInfo(t.title, str(t.threat), t.description, t.version, t.fingerprint())
    return out
