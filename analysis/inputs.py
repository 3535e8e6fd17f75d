"""Read one run's files and refuse anything Locust or the storm would not have written.

All files sit beside PREFIX (the value given to Locust's `--csv`): Locust's
`PREFIX_stats.csv` and `PREFIX_failures.csv` are required; the storm's ledger, snapshots
and run file are optional, because an external stack may have neither a fault proxy nor
a cache the storm can look into. Every number is validated here, so the checks later on
never meet a truncated row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from analysis.errors import BadInputError

log = logging.getLogger(__name__)

STATS_COLUMNS = ("Type", "Name", "Request Count", "Failure Count", "95%")
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences")
LEDGER_COLUMNS = (
    "time",
    "region",
    "kind",
    "method",
    "path",
    "status",
    "bytes_promised",
    "bytes_written",
    "end",
    "connected_ms",
    "params",
)
AGGREGATED = "Aggregated"
# Locust writes N/A as the percentiles of a row that has no requests yet.
NO_PERCENTILE = "N/A"
RERUN = "rerun the storm or pass the PREFIX given to locust --csv"

ModelT = TypeVar("ModelT", bound=BaseModel)


class CacheRegion(BaseModel):
    """One region of a cache snapshot beside the upstream's truth for its generation."""

    rows: int | None = None
    digest: str | None = None
    generation: int | None = None
    truth_rows: int | None = None
    truth_digest: str | None = None


class Snapshot(BaseModel):
    """The cache of every region at one moment of the storm ("start" or "end")."""

    label: str
    taken_at: float | None = None
    regions: dict[str, CacheRegion]


class SnapshotsFile(BaseModel):
    """`PREFIX_snapshots.json`."""

    snapshots: list[Snapshot]


class RunInfo(BaseModel):
    """The parts of `PREFIX_run.json` the verdict needs; the rest is for people."""

    target: str | None = None
    regions: list[str] | None = None


@dataclass(frozen=True)
class RunFiles:
    """One run's validated inputs.

    `stats` has the columns type, name, requests, failures, p95_ms (Aggregated dropped);
    `failures` has name, error, occurrences; `ledger` has region, kind, or is None when
    the run had no fault proxy.
    """

    prefix: Path
    stats: pd.DataFrame
    failures: pd.DataFrame
    ledger: pd.DataFrame | None
    snapshots: SnapshotsFile | None
    run_info: RunInfo | None

    def path(self, suffix: str) -> Path:
        return run_path(self.prefix, suffix)


def run_path(prefix: Path, suffix: str) -> Path:
    """The file Locust or the storm names `PREFIX_suffix`."""
    return prefix.with_name(f"{prefix.name}_{suffix}")


def load_run(prefix: str) -> RunFiles:
    """Read and validate every file of the run at `prefix`; raise BadInputError on any flaw."""
    base = Path(prefix)
    if not base.name:
        raise BadInputError(f"PREFIX {prefix!r} names a folder: pass the folder plus the stem")
    return RunFiles(
        prefix=base,
        stats=_load_stats(run_path(base, "stats.csv")),
        failures=_load_failures(run_path(base, "failures.csv")),
        ledger=_load_ledger(run_path(base, "ledger.csv")),
        snapshots=_load_json(run_path(base, "snapshots.json"), SnapshotsFile),
        run_info=_load_json(run_path(base, "run.json"), RunInfo),
    )


def _load_stats(path: Path) -> pd.DataFrame:
    frame = _read_csv(path, STATS_COLUMNS)
    names = frame["Name"].fillna("")
    if frame.empty or names.iloc[-1] != AGGREGATED:
        raise BadInputError(
            f"{path}: truncated, its last row is not Locust's {AGGREGATED!r} row: {RERUN}"
        )
    frame = frame.iloc[:-1]
    return pd.DataFrame(
        {
            "type": frame["Type"].fillna("").str.strip(),
            "name": frame["Name"].fillna("").str.strip(),
            "requests": _counts(frame, "Request Count", path),
            "failures": _counts(frame, "Failure Count", path),
            "p95_ms": _numbers(frame, "95%", path, allow_missing=True),
        }
    )


def _load_failures(path: Path) -> pd.DataFrame:
    frame = _read_csv(path, FAILURES_COLUMNS)
    return pd.DataFrame(
        {
            "name": frame["Name"].fillna("").str.strip(),
            "error": frame["Error"].fillna(""),
            "occurrences": _counts(frame, "Occurrences", path),
        }
    )


def _load_ledger(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        log.info("no ledger at %s: the run had no fault proxy", path)
        return None
    # The proxy may create its ledger before the first lie: an empty file means no faults.
    if path.stat().st_size == 0:
        return pd.DataFrame({"region": pd.Series(dtype=str), "kind": pd.Series(dtype=str)})
    frame = _read_csv(path, LEDGER_COLUMNS)
    return pd.DataFrame(
        {
            "region": frame["region"].fillna("").str.strip().str.upper(),
            "kind": frame["kind"].fillna("").str.strip(),
        }
    )


def _load_json(path: Path, model: type[ModelT]) -> ModelT | None:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        log.info("no %s: the checks that need it are skipped", path)
        return None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror}): {RERUN}") from exc
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the document"
        raise BadInputError(
            f"{path}: {where}: {error['msg']}: the file is garbled; {RERUN}"
        ) from exc


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    """Every cell as text, so that a garbled value is reported instead of guessed at."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise BadInputError(f"{path}: no such file: {RERUN}") from exc
    except pd.errors.EmptyDataError as exc:
        raise BadInputError(f"{path}: the file is empty: {RERUN}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path}: garbled CSV ({reason}): {RERUN}") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror}): {RERUN}") from exc

    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise BadInputError(
            f"{path}: missing columns {', '.join(missing)}: not the file a storm writes; {RERUN}"
        )
    return frame


def _counts(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = _numbers(frame, column, path, allow_missing=False, expected="a count")
    bad = (values < 0) | (values != values.round())
    if bad.any():
        _refuse(frame, column, path, bad, "a count")
    return values.astype("int64")


def _numbers(
    frame: pd.DataFrame, column: str, path: Path, allow_missing: bool, expected: str = "a number"
) -> pd.Series:
    """The column as floats; N/A becomes NaN only where Locust itself writes it."""
    text = frame[column].str.strip()
    missing = text == NO_PERCENTILE if allow_missing else pd.Series(False, index=frame.index)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        _refuse(frame, column, path, bad, expected)
    return values.astype("float64")


def _refuse(frame: pd.DataFrame, column: str, path: Path, bad: pd.Series, expected: str) -> None:
    position = int(bad.to_numpy().nonzero()[0][0])
    cell = frame[column].iloc[position]
    shown = "nothing" if pd.isna(cell) else repr(cell)
    # +2: the header is line 1 and positions count from 0.
    raise BadInputError(
        f"{path}: line {position + 2}: {column!r} is {shown}, not {expected}: "
        f"the file is truncated or garbled; {RERUN}"
    )
