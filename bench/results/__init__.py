"""The results layer: everything that reads or writes records and none of the computing (no torch, no stage).

* :mod:`~bench.results.records` — the record schema, read (validated) and written;
* :mod:`~bench.results.catalogue` / :mod:`~bench.results.scores` — score metadata as data (``scores.toml``);
* :mod:`~bench.results.ranking` — the ranking rule;
* :mod:`~bench.results.paired`, :mod:`~bench.results.intervals` — paired statistics and binomial intervals;
* :mod:`~bench.results.compare`, :mod:`~bench.results.compare_text` — entry against entry from records;
* :mod:`~bench.results.places` — where records and the site live, and the tracks' titles;
* :mod:`~bench.results.flags` — the sanity flags' names, explanations and severities;
* :mod:`~bench.results.labels` — crafted-set labels and threat models written for readers.

Number formatting by unit lives on the unit type (:meth:`bench.types.Unit.text`). The leaderboard imports only
this layer; ``tests/unit/test_import_contract.py`` keeps it so.
"""

from bench.registry import Registry as Registry
from bench.types import Category as Category
from bench.types import ScoreSpec as ScoreSpec
from bench.types import Severity as Severity
from bench.types import Unit as Unit

__all__ = ["Category", "Registry", "ScoreSpec", "Severity", "Unit"]
