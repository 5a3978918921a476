"""robex's harness core: tracks, protocols, registries, data, models, training, scores, runner, records."""

import os

# OpenMP threads that spin while waiting stall small-batch work badly when the cores are shared (up to 100x on
# a busy 2-core machine); sleeping waiters cost nothing measurable when they are not. Must precede torch's import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.registry import DuplicateNameError as DuplicateNameError
from bench.registry import Registry as Registry
from bench.registry import UnknownNameError as UnknownNameError
from bench.track import TRACKS as TRACKS
from bench.track import Track as Track
from bench.track import load_track as load_track

__version__ = "0.1.0"

__all__ = ["TRACKS", "DuplicateNameError", "Registry", "Track", "UnknownNameError", "load_track"]
