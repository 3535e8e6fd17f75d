"""Locust CSVs, the fault ledger and cache snapshots in; a per-region verdict out.

`python -m analysis PREFIX [--target REGION] [--thresholds FILE] [--out DIR]
[--name-pattern REGEX]` reads the files a storm (or any Locust run) left beside PREFIX,
checks containment, honesty, bounded latency, idempotent recovery and the evidence
behind them per region and phase, writes verdict.json, verdict.md, junit.xml and
blast_radius.png, prints the table, and exits 0 PASS, 1 FAIL, 3 INCONCLUSIVE or 2 on
bad input. `run()` does the same in-process and returns the exit code; `evaluate()`
judges without writing anything.
"""

from analysis.errors import AnalysisError, BadInputError
from analysis.runner import EXIT_CODES, Evaluation, evaluate, run
from analysis.thresholds import Thresholds

__all__ = [
    "EXIT_CODES",
    "AnalysisError",
    "BadInputError",
    "Evaluation",
    "Thresholds",
    "evaluate",
    "run",
]
