"""Read one run's files and refuse anything Locust or the storm would not have written.

All files sit beside PREFIX (the value given to Locust's `--csv`): Locust's
`PREFIX_stats.csv` and `PREFIX_failures.csv` are required; its
`PREFIX_stats_history.csv` (with `--csv-full-history`) and the storm's ledger, snapshots
and run file are optional, because an external stack may have neither a fault proxy nor
a cache the storm can look into. Every number is validated here, so the checks later on
never meet a truncated row. Request rows leave here labelled with their region and phase.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from analysis.errors import BadInputError
from analysis.names import NamePattern
from common import REGIONS, RegionError, parse_region

log = logging.getLogger(__name__)

STATS_COLUMNS = ("Type", "Name", "Request Count", "Failure Count", "95%")
FAILURES_COLUMNS = ("Method", "Name", "Error", "Occurrences")
# The ledger columns the verdict reads; the proxy writes more, and may add columns at the end.
LEDGER_COLUMNS = ("time", "region", "kind", "connected_ms", "status", "params")
PROFILE_KIND = "profile"
# The one kind the verdict reads statuses of: see analysis.facts.FalseRecoveries.
FALSE_RECOVERY = "false_recovery"
# How the proxy names a kind: lower case words joined by underscores.
KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The ledger's last column, when it has one: what a lie left the connection fit for. A
# row cut inside it still has every field.
CONNECTIONS = ("reusable", "closed", "poisoned")
# Only what the timeline needs is read from the history, each column parsed as it is read:
# the file has a row per name per second, millions for a day-long storm.
HISTORY_DTYPES = {
    "Timestamp": "float64",
    "Type": "category",
    "Name": "category",
    "95%": "float64",
    "Total Request Count": "float64",
    "Total Failure Count": "float64",
}
AGGREGATED = "Aggregated"
STALENESS = "STALENESS"
# Locust writes N/A as the percentiles of a row that has no requests yet.
NO_PERCENTILE = "N/A"
RERUN = "rerun the storm or pass the PREFIX given to locust --csv"
# Counts are exact in a float64 up to 2**53; Locust's never come near it.
MAX_COUNT = 2**53

ModelT = TypeVar("ModelT", bound=BaseModel)


class CacheRegion(BaseModel):
    """One region of a cache snapshot beside the upstream's truth for its generation."""

    rows: int | None = None
    digest: str | None = None
    generation: int | None = None
    truth_rows: int | None = None
    truth_digest: str | None = None
    upstream_generation: int | None = None
    breaker: str | None = None


class Snapshot(BaseModel):
    """The cache of every region at one moment: start, fault_start, fault_end or end."""

    label: str
    taken_at: float | None = None
    regions: dict[str, CacheRegion]
    # The fault proxy's count of requests per region so far, lied to or not.
    upstream_requests: dict[str, int] | None = None


class Recovery(BaseModel):
    """When the target's cache was whole and current again after the fault window closed."""

    region: str | None = None
    fault_end: float | None = None
    recovered_at: float | None = None
    recovered_after_s: float | None = None
    watched_s: float | None = None


class SnapshotsFile(BaseModel):
    """`PREFIX_snapshots.json`."""

    snapshots: list[Snapshot]
    recovery: Recovery | None = None


class PhaseSpan(BaseModel):
    name: str
    start: float | None = None
    end: float | None = None


class RunInfo(BaseModel):
    """The parts of `PREFIX_run.json` the verdict needs; the rest is for people."""

    target: str | None = None
    regions: list[str] | None = None
    phases: list[PhaseSpan] | None = None
    fault_window: list[float | None] | None = None
    embedded: bool | None = None
    ingest: str | None = None
    bugs: list[str] | None = None

    def span(self, phase: str) -> tuple[float, float] | None:
        """(start, end) of a phase in unix seconds, when the run file knows both ends."""
        for entry in self.phases or []:
            if entry.name == phase and entry.start is not None and entry.end is not None:
                return entry.start, entry.end
        window = self.fault_window or []
        if phase == "fault" and len(window) == 2 and None not in window:
            return float(window[0] or 0.0), float(window[1] or 0.0)
        return None

    def fault_windows(self) -> list[tuple[float, float]] | None:
        """The spans in which the proxy may have lied to the target, or None when unknown.

        A storm records a fault phase's start before it loads the profile and its
        `fault_window` end after it unloads it, so each window spans both; a fault phase
        still open when the run file was written reaches to the end of time. A run file
        without phases says nothing about when faults were on: None.
        """
        if not self.phases:
            return None
        windows = [
            (entry.start, math.inf if entry.end is None else entry.end)
            for entry in self.phases
            if entry.name == "fault" and entry.start is not None
        ]
        window = self.fault_window or []
        if len(window) == 2 and window[0] is not None:
            windows.append((window[0], math.inf if window[1] is None else window[1]))
        if not windows:
            return []
        # The storm runs one fault phase per test: its phase and its window overlap.
        return _merged(windows)


def _merged(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class RunFiles:
    """One run's validated inputs.

    `stats` has the columns type, name, requests, failures, p95_ms, region, phase
    (Aggregated dropped; region and phase categorical, NaN where the name carries none);
    `failures` has name, error, occurrences, region, phase; `ledger` has region, kind,
    time, connected_ms, status, or is None when the run had no fault proxy;
    `profiles` has the ledger's profile rows as time, region, probability (NaN when the
    row does not say it) and kinds (space-separated), or is None with the ledger; `history` has
    time, staleness, name_code, region, phase, p95_ms, requests, failures (cumulative),
    or is None when the run kept no per-name history.
    """

    prefix: Path
    stats: pd.DataFrame
    failures: pd.DataFrame
    ledger: pd.DataFrame | None
    snapshots: SnapshotsFile | None
    run_info: RunInfo | None
    history: pd.DataFrame | None = None
    profiles: pd.DataFrame | None = None

    def path(self, suffix: str) -> Path:
        return run_path(self.prefix, suffix)

    @property
    def phased(self) -> bool:
        """True when request names carry phases, so the checks compare fault with baseline."""
        return bool(self.stats["phase"].notna().any())


def run_path(prefix: Path, suffix: str) -> Path:
    """The file Locust or the storm names `PREFIX_suffix`."""
    return prefix.with_name(f"{prefix.name}_{suffix}")


def load_run(prefix: str, pattern: NamePattern | None = None) -> RunFiles:
    """Read and validate every file of the run at `prefix`; raise BadInputError on any flaw."""
    base = Path(prefix)
    if not base.name:
        raise BadInputError(f"PREFIX {prefix!r} names a folder: pass the folder plus the stem")
    names = pattern or NamePattern.compile(None)
    ledger, profiles = _load_ledger(run_path(base, "ledger.csv"))
    return RunFiles(
        prefix=base,
        stats=_load_stats(run_path(base, "stats.csv"), names),
        failures=_load_failures(run_path(base, "failures.csv"), names),
        ledger=ledger,
        profiles=profiles,
        snapshots=_load_json(run_path(base, "snapshots.json"), SnapshotsFile),
        run_info=_load_run_info(run_path(base, "run.json")),
        history=_load_history(run_path(base, "stats_history.csv"), names),
    )


def _load_run_info(path: Path) -> RunInfo | None:
    """The run file, with its regions canonical; an unknown one is refused, not skipped."""
    info = _load_json(path, RunInfo)
    if info is None or info.regions is None:
        return info
    regions = []
    for text in info.regions:
        try:
            regions.append(parse_region(text))
        except RegionError:
            # Skipping it would judge the run on the regions left, maybe the target alone.
            raise BadInputError(
                f"{path}: regions: {text[:40]!r} is not a known region (use {' '.join(REGIONS)}): "
                f"the file is garbled; {RERUN}"
            ) from None
    return info.model_copy(update={"regions": regions})


def _load_stats(path: Path, names: NamePattern) -> pd.DataFrame:
    frame = _read_csv(path, STATS_COLUMNS, whole_rows=True)
    if frame.empty or frame["Name"].iloc[-1].strip() != AGGREGATED:
        raise BadInputError(
            f"{path}: truncated, its last row is not Locust's {AGGREGATED!r} row: {RERUN}"
        )
    frame = frame.iloc[:-1]
    stats = pd.DataFrame(
        {
            "type": frame["Type"].str.strip(),
            "name": frame["Name"].str.strip(),
            "requests": _counts(frame, "Request Count", path),
            "failures": _counts(frame, "Failure Count", path),
            "p95_ms": _numbers(frame, "95%", path, missing=(NO_PERCENTILE,)),
        }
    )
    _refuse_more_failures_than_requests(frame, stats, path)
    stats = stats.join(names.label(stats["name"], path.name))
    if len(stats) and stats["region"].isna().all():
        raise BadInputError(
            f"{path}: no request name carries a region under {names.described_as} "
            f"(first name {stats['name'].iloc[0]!r}): pass --name-pattern with a "
            "(?P<region>..) group"
        )
    return stats


def _refuse_more_failures_than_requests(
    frame: pd.DataFrame, stats: pd.DataFrame, path: Path
) -> None:
    impossible = (stats["failures"] > stats["requests"]).to_numpy()
    if not impossible.any():
        return
    position = int(impossible.nonzero()[0][0])
    row = stats.iloc[position]
    name = str(frame["Name"].iloc[position])[:80]
    raise BadInputError(
        f"{path}: line {position + 2} ({name!r}): {row['failures']} failures out of "
        f"{row['requests']} requests is impossible: the file is garbled; {RERUN}"
    )


def _load_failures(path: Path, names: NamePattern) -> pd.DataFrame:
    frame = _read_csv(path, FAILURES_COLUMNS, whole_rows=True)
    failures = pd.DataFrame(
        {
            "name": frame["Name"].str.strip(),
            "error": frame["Error"],
            "occurrences": _counts(frame, "Occurrences", path),
        }
    )
    return failures.join(names.label(failures["name"], path.name))


def _load_ledger(path: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The ledger's faults and its profile rows (when each region's lies began and ended)."""
    if not path.exists():
        log.info("no ledger at %s: the run had no fault proxy", path)
        return None, None
    # The proxy may create its ledger before the first lie: an empty file means no faults.
    if path.stat().st_size == 0:
        frame = pd.DataFrame({column: pd.Series(dtype=str) for column in LEDGER_COLUMNS})
    else:
        # The proxy writes one whole row at a time: a short or unended row was cut.
        frame = _read_csv(path, LEDGER_COLUMNS, whole_rows=True)
    kinds = frame["kind"].str.strip()
    named = kinds.str.fullmatch(KIND_NAME)
    if not named.all():
        _refuse(frame, "kind", path, ~named, "a fault kind's name (like truncate)")
    if "connection" in frame.columns:
        fit = frame["connection"].str.strip().isin(CONNECTIONS)
        if not fit.all():
            _refuse(frame, "connection", path, ~fit, f"one of {', '.join(CONNECTIONS)}")
    statuses = _statuses(frame, path)
    # Rows of kind `profile` record when the proxy's profile changed: control, not faults.
    changes, faults = frame[kinds == PROFILE_KIND], frame[kinds != PROFILE_KIND]
    ledger = pd.DataFrame(
        {
            "region": faults["region"].str.strip().str.upper(),
            "kind": faults["kind"].str.strip(),
            "time": _numbers(faults, "time", path),
            "connected_ms": _numbers(faults, "connected_ms", path, missing=("",)),
            "status": statuses[faults.index],
        }
    )
    # A complete reply always has a status; false_recovery's are complete, and the verdict
    # tells its served requests from its failures by it.
    unanswered = (ledger["kind"] == FALSE_RECOVERY) & ledger["status"].isna()
    if unanswered.any():
        bad = unanswered.reindex(frame.index, fill_value=False)
        _refuse(frame, "status", path, bad, "a status (false_recovery always sends one)")
    specs = [_profile_spec(frame, path, index) for index in changes.index]
    profiles = pd.DataFrame(
        {
            "region": changes["region"].str.strip().str.upper(),
            "time": _numbers(changes, "time", path),
            "probability": [probability for probability, _ in specs],
            "kinds": [kinds for _, kinds in specs],
        },
        index=changes.index,
    )
    return ledger, profiles


def _statuses(frame: pd.DataFrame, path: Path) -> pd.Series:
    """The status sent (NaN where none was: the connection ended before one).

    Three digits: a kind that relays the upstream's reply relays its status, even one
    past 599 that some providers send.
    """
    values = _numbers(frame, "status", path, missing=("",), expected="an HTTP status")
    bad = ~(values.isna() | (values.between(100, 999) & (values == values.round())))
    if bad.any():
        _refuse(frame, "status", path, bad, "an HTTP status (a whole number from 100 to 999)")
    return values


def _profile_spec(frame: pd.DataFrame, path: Path, index: object) -> tuple[float, str]:
    """A profile row's probability and kinds (space-separated); (NaN, "") when faults are off.

    The proxy writes each region's spec as it validated it: anything else was edited or cut.
    """
    region, text = str(frame.at[index, "region"]).strip(), str(frame.at[index, "params"])
    try:
        spec = json.loads(text)
    except (ValueError, RecursionError):
        spec = None
    if isinstance(spec, dict) and not region and not spec:
        return math.nan, ""
    probability = spec.get("probability") if isinstance(spec, dict) else None
    kinds = spec.get("types") if isinstance(spec, dict) else None
    if (
        region
        and isinstance(probability, int | float)
        and not isinstance(probability, bool)
        and 0.0 <= probability <= 1.0
        and isinstance(kinds, list)
        and kinds
        and all(isinstance(kind, str) and KIND_NAME.fullmatch(kind) for kind in kinds)
    ):
        return float(probability), " ".join(kinds)
    bad = pd.Series(frame.index == index, index=frame.index)
    expected = (
        "a region's fault spec (probability from 0 to 1, types a list of kinds)"
        if region
        else "{} (a profile that names no region)"
    )
    _refuse(frame, "params", path, bad, expected)


def _load_history(path: Path, names: NamePattern) -> pd.DataFrame | None:
    """The per-name timeline, or None when Locust wrote no per-name rows (or no file)."""
    if not path.exists():
        log.info("no %s: the chart shows whole-run bars instead of a timeline", path)
        return None
    rows = _read_history(path)
    # Aggregated rows carry no region, so one filter on the region drops them too.
    labels = names.label(rows["Name"], path.name)
    keep = labels["region"].notna().to_numpy()
    if not keep.any():
        log.info("%s has no per-region rows (no --csv-full-history?): no timeline", path)
        return None
    return pd.DataFrame(
        {
            "time": rows["Timestamp"].to_numpy()[keep],
            "staleness": (rows["Type"] == STALENESS).to_numpy()[keep],
            "name_code": rows["Name"].cat.codes.to_numpy()[keep],
            "p95_ms": rows["95%"].to_numpy()[keep],
            "requests": rows["Total Request Count"].to_numpy()[keep],
            "failures": rows["Total Failure Count"].to_numpy()[keep],
            "region": labels["region"].array[keep],
            "phase": labels["phase"].array[keep],
        }
    )


def _read_history(path: Path) -> pd.DataFrame:
    """Typed columns straight from the parser; any cell that is not a number is refused."""
    _require_final_newline(path)
    _read_csv(path, tuple(HISTORY_DTYPES), nrows=0)
    try:
        rows = pd.read_csv(
            path,
            usecols=list(HISTORY_DTYPES),
            dtype=HISTORY_DTYPES,
            na_values=[NO_PERCENTILE],
            keep_default_na=False,
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(
            f"{path}: garbled or truncated CSV ({_first_line(exc)}): {RERUN}"
        ) from exc
    if np.isinf(rows.select_dtypes("number").to_numpy()).any():
        raise BadInputError(f"{path}: a number is infinite (1e400?): the file is garbled; {RERUN}")
    return rows


def _require_final_newline(path: Path) -> None:
    """Locust ends every row with a newline: a last row without one was cut while written."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if size:
                handle.seek(size - 1)
            last = handle.read(1)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror}): {RERUN}") from exc
    if size == 0:
        raise BadInputError(f"{path}: the file is empty: {RERUN}")
    if last != b"\n":
        raise BadInputError(f"{path}: truncated, its last row ends without a newline: {RERUN}")


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


def _read_csv(
    path: Path, required: Sequence[str], nrows: int | None = None, whole_rows: bool = False
) -> pd.DataFrame:
    """Every cell as text, so that a garbled value is reported instead of guessed at.

    With `whole_rows`, a row with fewer fields than the header (a file cut while it was
    written) is refused. Without it, a cell missing from a short row is "", like an
    empty one: the column's own check refuses it where a value is required.
    """
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=nrows).fillna("")
    except FileNotFoundError as exc:
        raise BadInputError(f"{path}: no such file: {RERUN}") from exc
    except pd.errors.EmptyDataError as exc:
        raise BadInputError(f"{path}: the file is empty: {RERUN}") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"{path}: garbled CSV ({_first_line(exc)}): {RERUN}") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror}): {RERUN}") from exc

    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise BadInputError(
            f"{path}: missing columns {', '.join(missing)}: not the file a storm writes; {RERUN}"
        )
    if whole_rows:
        _require_final_newline(path)
        _require_whole_rows(path)
    return frame


def _require_whole_rows(path: Path) -> None:
    """Every row has as many fields as the header: pandas would fill a short one silently."""
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            width = len(next(reader, []))
            for row in reader:
                if row and len(row) != width:
                    raise BadInputError(
                        f"{path}: line {reader.line_num}: {len(row)} fields where the header "
                        f"has {width}: the file is truncated or garbled; {RERUN}"
                    )
    except csv.Error as exc:
        raise BadInputError(f"{path}: garbled CSV ({exc}): {RERUN}") from exc
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror}): {RERUN}") from exc


def _counts(frame: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = _numbers(frame, column, path, expected="a count")
    bad = (values < 0) | (values > MAX_COUNT) | (values != values.round())
    if bad.any():
        _refuse(frame, column, path, bad, "a count")
    return values.astype("int64")


def _numbers(
    frame: pd.DataFrame,
    column: str,
    path: Path,
    missing: Sequence[str] = (),
    expected: str = "a number",
) -> pd.Series:
    """The column as floats; the texts in `missing` become NaN, any other non-number is refused."""
    text = frame[column].str.strip()
    absent = text.isin(missing)
    values = pd.to_numeric(text.where(~absent), errors="coerce")
    # "1e400" and "inf" parse, as infinity: no measurement is infinite.
    bad = (values.isna() | values.abs().eq(math.inf)) & ~absent
    if bad.any():
        _refuse(frame, column, path, bad, expected)
    return values.astype("float64")


def _refuse(
    frame: pd.DataFrame, column: str, path: Path, bad: pd.Series, expected: str
) -> NoReturn:
    # The frames are read with pandas' default index, kept by every selection made from
    # them: the label is the row's place in the file (+2: the header is line 1, labels
    # count from 0).
    label = bad.index[bad.to_numpy().nonzero()[0][0]]
    cell = frame.at[label, column]
    shown = repr(cell) if cell else "nothing"
    raise BadInputError(
        f"{path}: line {int(label) + 2}: {column!r} is {shown}, not {expected}: "
        f"the file is truncated or garbled; {RERUN}"
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
