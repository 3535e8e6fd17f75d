"""Builders of run folders in Locust 2.47's CSV format, healthy unless a test says otherwise.

A RunSpec describes what a storm measured; `write_run` turns it into the files a storm
leaves beside its PREFIX and returns that PREFIX. The stats, failures and history
layouts are those of a real `locust --csv PREFIX --csv-full-history` run (header,
quoting, the final Aggregated row, one history row per name per second).

A phased spec (the default) names rows `/discover [DE] fault` and runs baseline 10 s,
fault 30 s, recovery 20 s; an unphased one names them `/discover [DE]`, as runs made
before phases did.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis import EXIT_CODES, evaluate
from analysis.reports import render_json
from common import REGIONS
from faults.ledger import COLUMNS

STATS_HEADER = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
]
PERCENTILES = STATS_HEADER[11:]
HISTORY_HEADER = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    *PERCENTILES,
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
]
FAILURES_HEADER = ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]
LEDGER_HEADER = list(COLUMNS)
REPORTS = ("verdict.json", "verdict.md", "junit.xml", "blast_radius.png")
STARTED_AT = 1700000000.0
PHASE_SECONDS = {"baseline": 10, "fault": 30, "recovery": 20}


@dataclass
class RegionLoad:
    """One region's requests in one phase: split over `/discover` and `/discover?q`."""

    requests: int = 1000
    unavailable: int = 0
    dishonest: dict[str, int] = field(default_factory=dict)
    p95_ms: float = 40
    search_p95_ms: float = 30
    staleness_p95_ms: int | None = 2000


@dataclass
class CacheEntry:
    rows: int = 60
    digest: str = "d" * 64
    generation: int = 4
    truth_rows: int | None = 60
    truth_digest: str | None = "d" * 64


def healed(after_s: float = 8.0) -> dict[str, Any]:
    """The recovery record of a target healed after_s after the fault window closed."""
    fault_end = STARTED_AT + 40
    return {
        "region": "DE",
        "fault_end": fault_end,
        "recovered_at": fault_end + after_s,
        "recovered_after_s": after_s,
        "watched_s": 20.0,
    }


@dataclass
class RunSpec:
    """A healthy phased storm on DE: every region loaded, five faults injected into DE.

    `loads` applies to every phase; `phase_loads` overrides one (region, phase).
    Ledger entries are (region, kind), (region, kind, connected_ms) or (region, kind,
    connected_ms, status), one second apart; `profiles` are (region, probability), written
    as the proxy's profile rows (naming `profile_kinds`) just before them, and installed
    again just before each ledger entry whose index is in `reinstalled_before`.
    """

    target: str = "DE"
    phased: bool = True
    loads: dict[str, RegionLoad] = field(
        default_factory=lambda: {region: RegionLoad() for region in REGIONS}
    )
    phase_loads: dict[tuple[str, str], RegionLoad] = field(default_factory=dict)
    ledger: list[tuple[Any, ...]] | None = field(default_factory=lambda: [("DE", "truncate")] * 5)
    profiles: list[tuple[str, float]] = field(default_factory=list)
    profile_kinds: list[str] = field(default_factory=lambda: ["false_recovery"])
    reinstalled_before: list[int] = field(default_factory=list)
    caches: dict[str, dict[str, CacheEntry | None]] = field(default_factory=dict)
    recovery: dict[str, Any] | None = field(default_factory=healed)
    # The proxy's requests per region at each snapshot label (default: 15 per region in
    # the fault window); None writes snapshots without counts, as older storms did.
    upstream_requests: dict[str, dict[str, int]] | None = field(
        default_factory=lambda: {
            "fault_start": dict.fromkeys(REGIONS, 10),
            "fault_end": dict.fromkeys(REGIONS, 25),
        }
    )
    snapshots: bool = True
    history: bool = True
    run_file: bool = True

    def phases(self) -> list[str | None]:
        return list(PHASE_SECONDS) if self.phased else [None]

    def load(self, region: str, phase: str | None) -> RegionLoad:
        if phase is not None and (region, phase) in self.phase_loads:
            return self.phase_loads[(region, phase)]
        return self.loads[region]


def write_run(folder: Path, spec: RunSpec, stem: str = "storm") -> Path:
    """Write every file of the run described by `spec`; return its PREFIX."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / stem
    write_csv(Path(f"{prefix}_stats.csv"), STATS_HEADER, _stats_rows(spec))
    write_csv(Path(f"{prefix}_failures.csv"), FAILURES_HEADER, _failure_rows(spec))
    if spec.history:
        write_csv(Path(f"{prefix}_stats_history.csv"), HISTORY_HEADER, _history_rows(spec))
    if spec.ledger is not None:
        rows = _profile_rows(spec.profiles, spec.profile_kinds, STARTED_AT + 10.5)
        for index in spec.reinstalled_before:
            at = STARTED_AT + 10.5 + index
            rows += _profile_rows(spec.profiles, spec.profile_kinds, at)
        rows += _ledger_rows(spec.ledger)
        write_csv(Path(f"{prefix}_ledger.csv"), LEDGER_HEADER, rows)
    if spec.snapshots:
        _write_json(Path(f"{prefix}_snapshots.json"), _snapshots(spec))
    if spec.run_file:
        _write_json(Path(f"{prefix}_run.json"), _run_info(spec))
    return prefix


def stats_row(kind: str, name: str, requests: int, failures: int, p95_ms: float) -> list[Any]:
    """A stats row as Locust writes it; a row without requests has N/A percentiles."""
    if requests == 0:
        return [kind, name, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, *["N/A"] * 11]
    median = int(p95_ms // 2)
    rates = [requests / 60.0, failures / 60.0]
    summary = [requests, failures, median, median * 1.1, 1.5, p95_ms, 935.0, *rates]
    return [kind, name, *summary, *[median] * 5, *[p95_ms] * 6]


def row_names(region: str, phase: str | None) -> tuple[str, str, str]:
    """The browse, search and staleness row names of a region in a phase."""
    suffix = "" if phase is None else f" {phase}"
    return (
        f"/discover [{region}]{suffix}",
        f"/discover?q [{region}]{suffix}",
        f"{region}{suffix}",
    )


def _stats_rows(spec: RunSpec) -> list[list[Any]]:
    rows: list[list[Any]] = []
    total = 0
    for region in spec.loads:
        for phase in spec.phases():
            load = spec.load(region, phase)
            browse, search, staleness = row_names(region, phase)
            half = load.requests // 2
            failed = load.unavailable + sum(load.dishonest.values())
            rows.append(stats_row("GET", browse, load.requests - half, failed, load.p95_ms))
            rows.append(stats_row("GET", search, half, 0, load.search_p95_ms))
            if load.staleness_p95_ms is not None:
                rows.append(
                    stats_row("STALENESS", staleness, load.requests, 0, load.staleness_p95_ms)
                )
            total += load.requests
    rows.append(stats_row("", "Aggregated", total, 0, 50))
    return rows


def _failure_rows(spec: RunSpec) -> list[list[Any]]:
    seen = ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"]
    rows: list[list[Any]] = []
    for region in spec.loads:
        for phase in spec.phases():
            load = spec.load(region, phase)
            name = row_names(region, phase)[0]
            for message, count in load.dishonest.items():
                error = f"CatchResponseError('dishonest: {message}')"
                rows.append(["GET", name, error, count, *seen])
            if load.unavailable:
                error = "CatchResponseError('unavailable: 503 no snapshot yet')"
                rows.append(["GET", name, error, load.unavailable, *seen])
    return rows


def _history_rows(spec: RunSpec) -> list[list[Any]]:
    """One row per existing name per second; counts grow evenly through each name's phase."""
    rows: list[list[Any]] = []
    spans = _spans(spec)
    end = int(max(stop for _, stop in spans.values()))
    for second in range(int(STARTED_AT) + 1, end + 1):
        for region in spec.loads:
            for phase, (start, stop) in spans.items():
                if second <= start:
                    continue
                rows += _history_for(spec, region, phase, second, (start, stop))
        rows.append([second, 16, "", "Aggregated", 0.0, 0.0, *["N/A"] * len(PERCENTILES)] + [0] * 7)
    return rows


def _history_for(
    spec: RunSpec, region: str, phase: str | None, second: int, span: tuple[float, float]
) -> list[list[Any]]:
    start, stop = span
    load = spec.load(region, phase)
    done = min(1.0, (second - start) / (stop - start))
    active = second <= stop
    failed = load.unavailable + sum(load.dishonest.values())
    browse, search, staleness = row_names(region, phase)
    half = load.requests // 2
    parts = [
        ("GET", browse, load.requests - half, failed, load.p95_ms),
        ("GET", search, half, 0, load.search_p95_ms),
    ]
    if load.staleness_p95_ms is not None:
        parts.append(("STALENESS", staleness, load.requests, 0, load.staleness_p95_ms))
    rows = []
    for kind, name, requests, failures, p95_ms in parts:
        window = p95_ms if active and requests else 0
        count, errors = round(requests * done), round(failures * done)
        percentiles = [window] * len(PERCENTILES)
        totals = [count, errors, window, window, 0.5, window, 935.0]
        rows.append([second, 16, kind, name, 0.0, 0.0, *percentiles, *totals])
    return rows


def _spans(spec: RunSpec) -> dict[str | None, tuple[float, float]]:
    if not spec.phased:
        return {None: (STARTED_AT, STARTED_AT + sum(PHASE_SECONDS.values()))}
    spans: dict[str | None, tuple[float, float]] = {}
    start = STARTED_AT
    for phase, seconds in PHASE_SECONDS.items():
        spans[phase] = (start, start + seconds)
        start += seconds
    return spans


def _ledger_rows(ledger: list[tuple[Any, ...]]) -> list[list[Any]]:
    rows = []
    for n, (region, kind, *held) in enumerate(ledger):
        connected_ms = held[0] if held else 3.5
        status = held[1] if len(held) > 1 else 200
        rows.append(
            [
                f"{STARTED_AT + 11 + n:.6f}",
                region,
                kind,
                "GET",
                f"/catalog?region={region}",
                status,
                9000,
                4500,
                "fin",
                connected_ms,
                json.dumps({"keep_fraction": 0.5}),
                "closed",
            ]
        )
    return rows


def _profile_rows(
    profiles: list[tuple[str, float]], kinds: list[str], at: float
) -> list[list[Any]]:
    return [
        [
            f"{at:.6f}",
            region,
            "profile",
            "PUT",
            "/__faults/profile",
            200,
            "",
            0,
            "complete",
            0.0,
            json.dumps({"probability": probability, "types": kinds}),
            "reusable",
        ]
        for region, probability in profiles
    ]


def _snapshots(spec: RunSpec) -> dict[str, Any]:
    labels = ["start", "fault_start", "fault_end", "end"] if spec.phased else ["start", "end"]
    offsets = {"start": 0, "fault_start": 10, "fault_end": 40, "end": 60}
    shots = []
    for label in labels:
        entries: dict[str, CacheEntry | None] = {region: CacheEntry() for region in spec.loads}
        entries.update(spec.caches.get(label, {}))
        shot = {"label": label, "taken_at": STARTED_AT + offsets[label], "regions": _cache(entries)}
        if spec.upstream_requests is not None and label in spec.upstream_requests:
            shot["upstream_requests"] = spec.upstream_requests[label]
        shots.append(shot)
    document: dict[str, Any] = {"snapshots": shots}
    if spec.phased and spec.recovery is not None:
        document["recovery"] = spec.recovery
    return document


def _cache(entries: dict[str, CacheEntry | None]) -> dict[str, Any]:
    return {
        region: {**entry.__dict__, "breaker": "closed", "upstream_generation": entry.generation}
        for region, entry in entries.items()
        if entry is not None
    }


def _run_info(spec: RunSpec) -> dict[str, Any]:
    info: dict[str, Any] = {
        "target": spec.target,
        "ingest": "hardened",
        "seed": 1,
        "profile": {spec.target: {"probability": 0.7, "types": ["truncate"]}},
        "regions": list(spec.loads),
        "min_items": 50,
        "started_at": STARTED_AT,
        "fault_window": [STARTED_AT + 10, STARTED_AT + 40],
    }
    if spec.phased:
        info["phases"] = [
            {"name": phase, "start": start, "end": stop}
            for phase, (start, stop) in _spans(spec).items()
        ]
    return info


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2))


def judged(prefix: Path, **options: Any) -> tuple[int, dict[str, Any]]:
    """Judge a run in-process without writing reports; its exit code and verdict.json."""
    evaluation = evaluate(str(prefix), **options)
    document = json.loads(render_json(evaluation.report))
    return EXIT_CODES[document["verdict"]], document


def check(verdict: dict[str, Any], region: str, name: str) -> dict[str, Any]:
    """One check of one region in a verdict.json document."""
    checks = verdict["regions"][region]["checks"]
    return next(c for c in checks if c["name"] == name)
