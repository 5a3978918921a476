"""Every benchmark of the suite, printed as one table of ratios measured side by side in one run.

Run: ``python tests/benchmarks/run_all.py`` (or ``tox -e bench``). Each ``bench_*.py`` module beside this file
exposes ``rows() -> list[Row]``; pass module names to run only some (``run_all.py bench_attacks``).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Row, table  # noqa: E402


def main(names: list[str]) -> int:
    """Run the chosen (default: all) benchmark modules and print one table."""
    modules = names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    rows: list[Row] = []
    for name in modules:
        start = time.perf_counter()
        module = importlib.import_module(name)
        rows.extend(module.rows())
        print(f"# {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
