"""Locust CSVs, the fault ledger and cache snapshots in; a per-region verdict out.

`python -m analysis PREFIX [--target REGION] [--thresholds FILE] [--out DIR]
[--name-pattern REGEX]` reads the files a storm (or any Locust run) left beside PREFIX,
checks containment, honesty, bounded latency, idempotent recovery and the evidence
behind them per region and phase, writes verdict.json, verdict.md, junit.xml and
blast_radius.png, prints the table, and exits 0 PASS, 1 FAIL, 3 INCONCLUSIVE or 2 on
bad input. `run()` does the same in-process and returns the exit code; `evaluate()`
judges without writing anything.
"""

import importlib
from typing import TYPE_CHECKING, Any

from analysis.errors import AnalysisError, BadInputError
from analysis.thresholds import Thresholds

if TYPE_CHECKING:
    from analysis.runner import EXIT_CODES, Evaluation, evaluate, run

# The runner brings pandas and matplotlib, about a second to import: a storm needs them
# only at its end, so they are imported when one of these names is first used.
_RUNNER_NAMES = frozenset({"EXIT_CODES", "Evaluation", "evaluate", "run"})


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        return getattr(importlib.import_module("analysis.runner"), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


__all__ = [
    "EXIT_CODES",
    "AnalysisError",
    "BadInputError",
    "Evaluation",
    "Thresholds",
    "evaluate",
    "run",
]
