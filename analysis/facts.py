"""What one run measured in each region: Locust's rows, the ledger and the cache snapshots.

Locust names a request row after its endpoint and region (`/discover [DE]`,
`/discover?q [DE]`) and a staleness row after the region alone (type `STALENESS`,
response time = snapshot age in ms). A region's rows are combined here; nothing is
judged yet.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.inputs import CacheRegion, RunFiles
from common import REGIONS

log = logging.getLogger(__name__)

STALENESS = "STALENESS"
DISHONEST = "dishonest:"
REQUEST_REGION = re.compile(r"\[([A-Za-z]{2})\]\s*$")
# Locust stores a catch_response failure as the repr of the exception it raised.
EXCEPTION_REPR = re.compile(r"""^\w+\((['"])(?P<message>.*)\1\)$""", re.DOTALL)


@dataclass(frozen=True)
class CacheView:
    """One region's cache in the end snapshot, or why it cannot be judged.

    `skipped` is set when there is nothing to compare (no snapshots file, no end
    snapshot); `state` is None with `skipped` unset when the region was missing from a
    snapshot that exists, which means the cache lost it.
    """

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
class RegionFacts:
    """Everything measured in one region, combined over its request rows."""

    region: str
    role: str
    requests: int = 0
    failures: int = 0
    p95_ms: float | None = None
    staleness_p95_s: float | None = None
    dishonest: int = 0
    dishonest_messages: tuple[str, ...] = ()
    faults_injected: int | None = None
    fault_kinds: dict[str, int] = field(default_factory=dict)
    cache_start: CacheView = field(default_factory=CacheView)
    cache_end: CacheView = field(default_factory=CacheView)

    @property
    def success_rate(self) -> float | None:
        if self.requests == 0:
            return None
        return (self.requests - self.failures) / self.requests


def run_regions(files: RunFiles, target: str) -> list[str]:
    """The regions the run loaded: the run file's list, else every region Locust reported.

    The target is always included, so that a target without rows is reported as such.
    """
    if files.run_info is not None and files.run_info.regions:
        named = {region.upper() for region in files.run_info.regions}
    else:
        named = set(_stats_regions(files.stats))
    named.add(target)
    return [region for region in REGIONS if region in named]


def collect_facts(files: RunFiles, target: str, regions: Sequence[str]) -> list[RegionFacts]:
    """One RegionFacts per region, in the order of `regions`.

    A region's `/discover` and `/discover?q` rows are combined: counts are summed, and
    its p95 is the largest of the rows' p95s, a conservative bound (see _request_totals).
    """
    requests = _request_totals(files.stats)
    staleness = _staleness_p95_s(files.stats)
    dishonest = _dishonest(files.failures)
    faults = _fault_kinds(files.ledger)
    _warn_unknown(set(requests) | set(staleness), regions)
    return [
        RegionFacts(
            region=region,
            role="target" if region == target else "clean",
            requests=int(requests.get(region, {}).get("requests", 0)),
            failures=int(requests.get(region, {}).get("failures", 0)),
            p95_ms=_optional(requests.get(region, {}).get("p95_ms")),
            staleness_p95_s=staleness.get(region),
            dishonest=sum(dishonest.get(region, {}).values()),
            dishonest_messages=tuple(dishonest.get(region, {})),
            faults_injected=None if faults is None else sum(faults.get(region, {}).values()),
            fault_kinds={} if faults is None else faults.get(region, {}),
            cache_start=_cache_view(files, "start", region),
            cache_end=_cache_view(files, "end", region),
        )
        for region in regions
    ]


def _stats_regions(stats: pd.DataFrame) -> set[str]:
    from_names = stats["name"].str.extract(REQUEST_REGION, expand=False).dropna().str.upper()
    staleness = stats.loc[stats["type"] == STALENESS, "name"].str.upper()
    return (set(from_names) | set(staleness)) & set(REGIONS)


def _request_totals(stats: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Counts summed per region; p95 is the largest p95 of the region's rows.

    Locust keeps no raw samples, so the p95 of the union of rows cannot be recomputed.
    The largest per-row p95 is a conservative bound: in a mixture where every part has
    95 % of its samples at or below m, so does the whole.
    """
    rows = stats[stats["type"] != STALENESS]
    region = rows["name"].str.extract(REQUEST_REGION, expand=False).str.upper()
    rows = rows.assign(region=region).dropna(subset=["region"])
    grouped = rows.groupby("region")
    totals = pd.DataFrame(
        {
            "requests": grouped["requests"].sum(),
            "failures": grouped["failures"].sum(),
            "p95_ms": grouped["p95_ms"].max(),
        }
    )
    return {
        str(region): {"requests": requests, "failures": failures, "p95_ms": p95_ms}
        for region, requests, failures, p95_ms in totals.itertuples()
    }


def _staleness_p95_s(stats: pd.DataFrame) -> dict[str, float]:
    rows = stats[(stats["type"] == STALENESS) & (stats["requests"] > 0)]
    per_region = rows.assign(region=rows["name"].str.upper()).groupby("region")["p95_ms"].max()
    return {str(region): float(p95_ms) / 1000.0 for region, p95_ms in per_region.items()}


def _dishonest(failures: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per region, each dishonest message and its count, the most frequent first."""
    rows = failures[failures["error"].str.contains(DISHONEST, regex=False)]
    rows = rows.assign(
        region=rows["name"].str.extract(REQUEST_REGION, expand=False).str.upper(),
        message=rows["error"].map(_failure_message),
    ).dropna(subset=["region"])
    totals = rows.groupby(["region", "message"])["occurrences"].sum().reset_index()
    return _nest(
        totals.sort_values("occurrences", ascending=False, kind="stable"), "message", "occurrences"
    )


def _failure_message(error: str) -> str:
    """`CatchResponseError('dishonest: partial ...')` -> `partial ...`."""
    match = EXCEPTION_REPR.match(error.strip())
    message = match.group("message") if match else error.strip()
    _, found, rest = message.partition(DISHONEST)
    return rest.strip() if found else message


def _fault_kinds(ledger: pd.DataFrame | None) -> dict[str, dict[str, int]] | None:
    if ledger is None:
        return None
    counts = ledger.groupby(["region", "kind"], as_index=False).size()
    return _nest(counts.sort_values("size", ascending=False, kind="stable"), "kind", "size")


def _nest(frame: pd.DataFrame, key: str, count: str) -> dict[str, dict[str, int]]:
    """Rows of (region, key, count) as {region: {key: count}}, keeping the rows' order."""
    result: dict[str, dict[str, int]] = {}
    for region, name, total in zip(frame["region"], frame[key], frame[count], strict=True):
        result.setdefault(str(region), {})[str(name)] = int(total)
    return result


def _cache_view(files: RunFiles, label: str, region: str) -> CacheView:
    if files.snapshots is None:
        return CacheView(skipped="no snapshots: external stack")
    labelled = [shot for shot in files.snapshots.snapshots if shot.label == label]
    if not labelled:
        return CacheView(skipped=f"no {label!r} snapshot in {files.path('snapshots.json')}")
    # The storm appends snapshots as it takes them: the last one of a label wins.
    regions = {name.upper(): state for name, state in labelled[-1].regions.items()}
    return CacheView(state=regions.get(region))


def _warn_unknown(reported: set[str], regions: Sequence[str]) -> None:
    ignored = sorted(reported - set(regions))
    if ignored:
        log.warning("ignored Locust rows of regions outside this run: %s", " ".join(ignored))


def _optional(value: Any) -> float | None:
    """A float, or None for a missing value or the NaN of a row without samples."""
    if value is None or pd.isna(value):
        return None
    return float(value)
