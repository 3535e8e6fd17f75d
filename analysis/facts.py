"""What one run measured in each region and phase: Locust's rows, the ledger, the snapshots.

Locust's cumulative stats rows are added up per region and phase: counts are summed, and
a p95 over several rows is the largest of their p95s (see _request_totals). The phase
WHOLE_RUN adds up every row of a region, with or without a phase. Nothing is judged here.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.confidence import wilson_bounds
from analysis.inputs import FALSE_RECOVERY, STALENESS, CacheRegion, Recovery, RunFiles
from analysis.names import PHASES, WHOLE_RUN
from common import REGIONS

log = logging.getLogger(__name__)

DISHONEST = "dishonest:"
# Locust stores a catch_response failure as the repr of the exception it raised.
EXCEPTION_REPR = re.compile(r"""^\w+\((['"])(?P<message>.*)\1\)$""", re.DOTALL)
# The snapshots a storm takes, in the order it takes them.
SNAPSHOT_LABELS = ("start", "fault_start", "fault_end", "end")


@dataclass(frozen=True)
class PhaseStats:
    """One region's requests in one phase (or the whole run)."""

    requests: int = 0
    failures: int = 0
    p95_ms: float | None = None
    staleness_p95_s: float | None = None
    dishonest: int = 0
    # message -> count, the most frequent first
    dishonest_messages: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        if self.requests == 0:
            return None
        return (self.requests - self.failures) / self.requests

    @property
    def success_bounds(self) -> tuple[float, float] | None:
        if self.requests == 0:
            return None
        return wilson_bounds(self.requests - self.failures, self.requests)


@dataclass(frozen=True)
class CacheView:
    """One region's cache in one snapshot, or why there is none to judge.

    `skipped` is set when there is nothing to compare (no snapshots file, no snapshot of
    that label); `state` is None with `skipped` unset when the region was missing from
    a snapshot that exists, which means the cache lost it.
    """

    label: str
    state: CacheRegion | None = None
    skipped: str | None = None

    @property
    def matches_truth(self) -> bool | None:
        """True or False when both digests are known, None when there is nothing to compare."""
        if self.skipped is not None:
            return None
        if self.state is None:
            return False
        if self.state.truth_digest is None:
            return None
        return self.state.digest == self.state.truth_digest


@dataclass(frozen=True)
class FalseRecoveries:
    """What the target's client did after each request false_recovery served.

    Each count is how many failing answers the client asked for after a served request,
    until the next one. `closed` holds the counts another served request ended, in time
    order; `cut_short` the counts that a new profile or the end of the window ended
    instead, one per profile the region ran under, so they may still have grown.
    `unjudgeable` says why the counts cannot stand for the client's behaviour: unless
    false_recovery answered every request of the region, some requests are missing from
    the ledger, and any of them could have been a second good answer. `undecided` says
    why the ledger cannot tell whether it did: no profile row, or rows that contradict it.
    """

    closed: tuple[int, ...] = ()
    cut_short: tuple[int, ...] = ()
    unjudgeable: str | None = None
    undecided: str | None = None


@dataclass(frozen=True)
class RegionFacts:
    """Everything measured in one region."""

    region: str
    role: str
    phases: dict[str, PhaseStats] = field(default_factory=dict)
    faults_injected: int | None = None
    fault_kinds: dict[str, int] = field(default_factory=dict)
    # the longest connected_ms of the region's ledger rows, per fault kind (None: not recorded)
    fault_hold_ms: dict[str, float | None] = field(default_factory=dict)
    # the target's ledger rows outside the run's fault windows, not counted as its faults
    faults_outside_window: int = 0
    # ledger rows of the whole run whose region is none of REGIONS: region text -> count
    unattributed_faults: dict[str, int] = field(default_factory=dict)
    caches: dict[str, CacheView] = field(default_factory=dict)
    recovery: Recovery | None = None
    recovery_skipped: str | None = None
    # Requests the proxy saw for this region during the fault window, and the median of
    # the clean regions' (None: the snapshots carry no counts).
    upstream_requests: int | None = None
    clean_upstream_requests: float | None = None
    # None: no false_recovery fault in the region's ledger rows.
    false_recoveries: FalseRecoveries | None = None

    def phase(self, name: str) -> PhaseStats:
        return self.phases.get(name, PhaseStats())

    def cache(self, label: str) -> CacheView:
        return self.caches.get(label, CacheView(label, skipped=f"no {label!r} snapshot"))


def run_regions(files: RunFiles, target: str) -> list[str]:
    """The regions the run loaded: the run file's list, else every region Locust reported.

    The target is always included, so that a target without rows is reported as such.
    """
    if files.run_info is not None and files.run_info.regions:
        named = {region.upper() for region in files.run_info.regions}
    else:
        named = {str(region) for region in files.stats["region"].dropna().unique()}
    named.add(target)
    return [region for region in REGIONS if region in named]


def collect_facts(files: RunFiles, target: str, regions: Sequence[str]) -> list[RegionFacts]:
    """One RegionFacts per region, in the order of `regions`.

    The target's faults are the ledger rows inside the run's fault windows; a row of any
    other region counts wherever it lies, since the proxy must never lie to it at all.
    """
    phases = _phase_stats(files)
    ledger, outside = _faults_of_this_run(files, target)
    kinds, holds = _ledger_facts(ledger)
    unattributed = {
        region: sum(counts.values())
        for region, counts in (kinds or {}).items()
        if region not in REGIONS
    }
    _warn_unknown({region for region, _ in phases}, regions)
    asked = _upstream_requests(files)
    clean_asked = [asked.get(region, 0) for region in regions if region != target] if asked else []
    clean_median = float(statistics.median(clean_asked)) if clean_asked else None
    return [
        RegionFacts(
            region=region,
            role="target" if region == target else "clean",
            phases={phase: stats for (name, phase), stats in phases.items() if name == region},
            faults_injected=None if kinds is None else sum(kinds.get(region, {}).values()),
            faults_outside_window=outside if region == target else 0,
            fault_kinds={} if kinds is None else kinds.get(region, {}),
            fault_hold_ms=holds.get(region, {}),
            unattributed_faults=unattributed,
            caches=_cache_views(files, region),
            recovery=_recovery(files, region) if region == target else None,
            recovery_skipped=_recovery_skipped(files, region),
            upstream_requests=None if asked is None else asked.get(region, 0),
            clean_upstream_requests=clean_median,
            false_recoveries=_false_recoveries(files, ledger, region) if region == target else None,
        )
        for region in regions
    ]


def _false_recoveries(
    files: RunFiles, ledger: pd.DataFrame | None, region: str
) -> FalseRecoveries | None:
    """The failures the target's client asked for after each request false_recovery served."""
    if ledger is None:
        return None
    rows = ledger[(ledger["region"] == region) & (ledger["kind"] == FALSE_RECOVERY)]
    if rows.empty:
        return None
    rows = rows.sort_values("time", kind="stable")
    # A new profile restarts the quiet spells: the failures before its first served
    # request are the client tripping again, not the tail of the previous count.
    installs = _installs(files)
    closed: list[int] = []
    cut_short: list[int] = []
    cuts = [int(index) for index in rows["time"].searchsorted(installs)]
    for part in _split(rows["status"].tolist(), cuts):
        counts: list[int] = []
        for status in part:
            if not status >= 500:
                counts.append(0)
            elif counts:
                counts[-1] += 1
        if counts:
            closed.extend(counts[:-1])
            cut_short.append(counts[-1])
    undecided, unjudgeable = _judgeable(files, ledger, region, installs)
    return FalseRecoveries(tuple(closed), tuple(cut_short), unjudgeable, undecided)


def _installs(files: RunFiles) -> list[float]:
    """When the proxy installed a profile: every install restarts every region's quiet spell."""
    if files.profiles is None:
        return []
    return sorted({float(time) for time in files.profiles["time"]})


def _split(items: list[Any], cuts: list[int]) -> list[list[Any]]:
    """`items` cut before each index in `cuts` (sorted)."""
    bounds = [0, *cuts, len(items)]
    return [items[start:end] for start, end in itertools.pairwise(bounds) if end > start]


def _judgeable(
    files: RunFiles, ledger: pd.DataFrame, region: str, installs: list[float]
) -> tuple[str | None, str | None]:
    """(Why the ledger cannot tell, why it may miss some of the region's requests); both
    None when it holds them all."""
    unknown = (
        "the ledger has no profile row for the region in the fault window: whether "
        "false_recovery answered all its requests is unknown; rerun the storm"
    )
    profiles = files.profiles
    if profiles is None:
        return unknown, None
    mine = profiles[profiles["region"] == region]
    drawn = {
        float(time): set(str(kinds).split())
        for time, kinds in zip(mine["time"], mine["kinds"], strict=True)
    }
    windows = None if files.run_info is None else files.run_info.fault_windows()
    if windows is not None:
        inside = pd.Series(False, index=mine.index)
        for start, end in windows:
            inside |= mine["time"].between(start, end)
        mine = mine[inside]
    if mine.empty:
        return unknown, None
    alone = mine["kinds"].map(lambda kinds: set(str(kinds).split()) == {FALSE_RECOVERY})
    if not ((mine["probability"] == 1.0) & alone).all():
        return None, (
            "false_recovery was not the region's only fault at probability 1: requests the "
            "dice or another kind let through are not in the ledger, and any of them may "
            "have been a second good answer"
        )
    return _contradiction(ledger, region, installs, drawn), None


def _contradiction(
    ledger: pd.DataFrame, region: str, installs: list[float], drawn: dict[float, set[str]]
) -> str | None:
    """A row of another kind for `region` where its profile, installed at one of
    `installs` and drawing `drawn[time]`, had false_recovery alone."""
    rows = ledger[(ledger["region"] == region) & (ledger["kind"] != FALSE_RECOVERY)]
    for time, kind in zip(rows["time"], rows["kind"], strict=True):
        position = bisect.bisect_right(installs, float(time))
        if position == 0:
            continue
        kinds = drawn.get(installs[position - 1], set())
        if kinds == {FALSE_RECOVERY}:
            return (
                f"the ledger holds a {kind} row for {region} while its profile had "
                "false_recovery alone: the ledger disagrees with itself; rerun the storm"
            )
    return None


def _upstream_requests(files: RunFiles) -> dict[str, int] | None:
    """Requests the proxy saw per region between the fault_start and fault_end snapshots."""
    if files.snapshots is None:
        return None
    counts: dict[str, dict[str, int] | None] = {}
    for shot in files.snapshots.snapshots:
        if shot.label in ("fault_start", "fault_end"):
            counts[shot.label] = shot.upstream_requests
    start, end = counts.get("fault_start"), counts.get("fault_end")
    if start is None or end is None:
        return None
    before = {region.upper(): count for region, count in start.items()}
    return {
        region.upper(): max(0, count - before.get(region.upper(), 0))
        for region, count in end.items()
    }


def phase_records(facts: Sequence[RegionFacts]) -> list[dict[str, object]]:
    """One plain record per region and phase present: what verdict.json's "phases" holds."""
    records: list[dict[str, object]] = []
    for region in facts:
        for phase in (*PHASES, WHOLE_RUN):
            if phase not in region.phases:
                continue
            stats = region.phases[phase]
            bounds = stats.success_bounds
            records.append(
                {
                    "region": region.region,
                    "role": region.role,
                    "phase": phase,
                    "requests": stats.requests,
                    "failures": stats.failures,
                    "success_rate": stats.success_rate,
                    "success_lower_95": None if bounds is None else bounds[0],
                    "success_upper_95": None if bounds is None else bounds[1],
                    "p95_ms": stats.p95_ms,
                    "staleness_p95_s": stats.staleness_p95_s,
                    "dishonest": stats.dishonest,
                }
            )
    return records


def _phase_stats(files: RunFiles) -> dict[tuple[str, str], PhaseStats]:
    requests = _request_totals(files.stats)
    staleness = _staleness_p95_s(files.stats)
    dishonest = _dishonest(files.failures)
    keys = set(requests) | set(staleness) | set(dishonest)
    return {
        key: PhaseStats(
            requests=int(requests.get(key, (0, 0, None))[0]),
            failures=int(requests.get(key, (0, 0, None))[1]),
            p95_ms=requests.get(key, (0, 0, None))[2],
            staleness_p95_s=staleness.get(key),
            dishonest=sum(dishonest.get(key, {}).values()),
            dishonest_messages=dishonest.get(key, {}),
        )
        for key in keys
    }


def _by_phase(rows: pd.DataFrame, aggregations: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The aggregations per (region, phase) and per (region, WHOLE_RUN), as one frame."""
    phased = rows[rows["phase"].notna()]
    per_phase = phased.groupby(["region", "phase"], observed=True).agg(**aggregations)
    whole = rows.groupby("region", observed=True).agg(**aggregations)
    whole.index = pd.MultiIndex.from_tuples(
        [(region, WHOLE_RUN) for region in whole.index], names=["region", "phase"]
    )
    return pd.concat([per_phase, whole])


def _request_totals(stats: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int, float | None]]:
    """(requests, failures, p95_ms) per region and phase.

    Locust keeps no raw samples, so the p95 of the union of rows cannot be recomputed.
    The largest per-row p95 is a conservative bound: in a mixture where every part has
    95 % of its samples at or below m, so does the whole.
    """
    rows = stats[(stats["type"] != STALENESS) & stats["region"].notna()]
    totals = _by_phase(
        rows,
        {
            "requests": ("requests", "sum"),
            "failures": ("failures", "sum"),
            "p95_ms": ("p95_ms", "max"),
        },
    )
    return {
        (str(region), str(phase)): (int(requests), int(failures), _optional(p95_ms))
        for (region, phase), requests, failures, p95_ms in totals.itertuples()
    }


def _staleness_p95_s(stats: pd.DataFrame) -> dict[tuple[str, str], float]:
    rows = stats[(stats["type"] == STALENESS) & (stats["requests"] > 0) & stats["region"].notna()]
    per_phase = _by_phase(rows, {"p95_ms": ("p95_ms", "max")})
    return {
        (str(region), str(phase)): float(p95_ms) / 1000.0
        for (region, phase), p95_ms in per_phase.itertuples()
        if not pd.isna(p95_ms)
    }


def _dishonest(failures: pd.DataFrame) -> dict[tuple[str, str], dict[str, int]]:
    """Per region and phase, each dishonest message and its count, the most frequent first."""
    rows = failures[
        failures["error"].str.contains(DISHONEST, regex=False) & failures["region"].notna()
    ]
    rows = rows.assign(
        message=rows["error"].map(_failure_message), region=rows["region"].astype(str)
    )
    phased = rows[rows["phase"].notna()]
    both = pd.concat(
        [phased.assign(bucket=phased["phase"].astype(str)), rows.assign(bucket=WHOLE_RUN)]
    )
    totals = (
        both.groupby(["region", "bucket", "message"])["occurrences"]
        .sum()
        .reset_index()
        .sort_values("occurrences", ascending=False, kind="stable")
    )
    result: dict[tuple[str, str], dict[str, int]] = {}
    for region, bucket, message, count in totals.itertuples(index=False):
        result.setdefault((str(region), str(bucket)), {})[str(message)] = int(count)
    return result


def _failure_message(error: str) -> str:
    """`CatchResponseError('dishonest: partial ...')` -> `partial ...`."""
    match = EXCEPTION_REPR.match(error.strip())
    message = match.group("message") if match else error.strip()
    _, found, rest = message.partition(DISHONEST)
    return rest.strip() if found else message


def _faults_of_this_run(files: RunFiles, target: str) -> tuple[pd.DataFrame | None, int]:
    """The ledger without the target's rows outside the fault windows, and how many those were.

    A proxy can lie outside a run's fault phase (a test stopped from the web UI while the
    profile was still loaded, a ledger shared by several runs): those lies are no evidence
    for this run's verdict. Without phases in the run file every row counts.
    """
    ledger = files.ledger
    windows = None if files.run_info is None else files.run_info.fault_windows()
    if ledger is None or windows is None:
        return ledger, 0
    inside = pd.Series(False, index=ledger.index)
    for start, end in windows:
        inside |= ledger["time"].between(start, end)
    outside = (ledger["region"] == target) & ~inside
    count = int(outside.sum())
    if count:
        log.warning(
            "%d ledger rows of %s lie outside the run's fault window: not counted", count, target
        )
    return ledger[~outside], count


def _ledger_facts(
    ledger: pd.DataFrame | None,
) -> tuple[dict[str, dict[str, int]] | None, dict[str, dict[str, float | None]]]:
    """Per region: the count of each fault kind (most frequent first) and its longest hold."""
    if ledger is None:
        return None, {}
    counts: dict[str, dict[str, int]] = {}
    grouped = ledger.groupby(["region", "kind"], as_index=False).size()
    for region, kind, size in grouped.sort_values(
        "size", ascending=False, kind="stable"
    ).itertuples(index=False):
        counts.setdefault(str(region), {})[str(kind)] = int(size)
    holds: dict[str, dict[str, float | None]] = {}
    # max skips the rows without a time; a kind none of whose rows has one gets None.
    longest = ledger.groupby(["region", "kind"], as_index=False)["connected_ms"].max()
    for region, kind, hold_ms in longest.itertuples(index=False):
        holds.setdefault(str(region), {})[str(kind)] = _optional(hold_ms)
    return counts, holds


def _cache_views(files: RunFiles, region: str) -> dict[str, CacheView]:
    views: dict[str, CacheView] = {}
    for label in SNAPSHOT_LABELS:
        if files.snapshots is None:
            views[label] = CacheView(label, skipped="no snapshots: external stack")
            continue
        labelled = [shot for shot in files.snapshots.snapshots if shot.label == label]
        if not labelled:
            continue
        # The storm appends snapshots as it takes them: the last one of a label wins.
        states = {name.upper(): state for name, state in labelled[-1].regions.items()}
        views[label] = CacheView(label, state=states.get(region))
    return views


def _recovery(files: RunFiles, target: str) -> Recovery | None:
    if files.snapshots is None or files.snapshots.recovery is None:
        return None
    recovery = files.snapshots.recovery
    if recovery.region is not None and recovery.region.upper() != target:
        return None
    return recovery


def _recovery_skipped(files: RunFiles, region: str) -> str | None:
    """Why the target's recovery cannot be judged, or None when it can."""
    if files.snapshots is None:
        return "no snapshots: external stack"
    recovery = files.snapshots.recovery
    if recovery is None:
        return f"no recovery record in {files.path('snapshots.json')}"
    if recovery.region is not None and recovery.region.upper() != region:
        return f"the recovery record watched {recovery.region}, not {region}"
    return None


def _warn_unknown(reported: set[str], regions: Sequence[str]) -> None:
    ignored = sorted(reported - set(regions))
    if ignored:
        log.warning("ignored Locust rows of regions outside this run: %s", " ".join(ignored))


def _optional(value: Any) -> float | None:
    """A float, or None for a missing value or the NaN of a row without samples."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number
