"""Builders of run folders in Locust 2.47's CSV format, healthy unless a test says otherwise.

A RunSpec describes what a storm measured; `write_run` turns it into the files a storm
leaves beside its PREFIX and returns that PREFIX. The stats and failures layouts are
those of a real `locust --csv` run (header, quoting, the final Aggregated row).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REGIONS

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
FAILURES_HEADER = ["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"]
LEDGER_HEADER = [
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
]
REPORTS = ("verdict.json", "verdict.md", "junit.xml", "blast_radius.png")


@dataclass
class RegionLoad:
    """One region's requests: split over `/discover` and `/discover?q` like a storm's."""

    requests: int = 200
    unavailable: int = 0
    dishonest: dict[str, int] = field(default_factory=dict)
    p95_ms: int = 40
    search_p95_ms: int = 30
    staleness_p95_ms: int | None = 2000


@dataclass
class CacheEntry:
    rows: int = 60
    digest: str = "d" * 64
    generation: int = 4
    truth_rows: int | None = 60
    truth_digest: str | None = "d" * 64


@dataclass
class RunSpec:
    """A healthy storm on DE: every region loaded, five faults injected into DE."""

    target: str = "DE"
    loads: dict[str, RegionLoad] = field(
        default_factory=lambda: {region: RegionLoad() for region in REGIONS}
    )
    ledger: list[tuple[str, str]] | None = field(default_factory=lambda: [("DE", "truncate")] * 5)
    end_cache: dict[str, CacheEntry | None] = field(default_factory=dict)
    snapshots: bool = True
    run_file: bool = True


def write_run(folder: Path, spec: RunSpec, stem: str = "storm") -> Path:
    """Write every file of the run described by `spec`; return its PREFIX."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / stem
    _write_csv(Path(f"{prefix}_stats.csv"), STATS_HEADER, _stats_rows(spec))
    _write_csv(Path(f"{prefix}_failures.csv"), FAILURES_HEADER, _failure_rows(spec))
    if spec.ledger is not None:
        _write_csv(Path(f"{prefix}_ledger.csv"), LEDGER_HEADER, _ledger_rows(spec.ledger))
    if spec.snapshots:
        _write_json(Path(f"{prefix}_snapshots.json"), _snapshots(spec))
    if spec.run_file:
        _write_json(Path(f"{prefix}_run.json"), _run_info(spec))
    return prefix


def stats_row(kind: str, name: str, requests: int, failures: int, p95_ms: int) -> list[Any]:
    """A stats row as Locust writes it; a row without requests has N/A percentiles."""
    if requests == 0:
        return [kind, name, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, *["N/A"] * 11]
    median = int(p95_ms // 2)
    rates = [requests / 60.0, failures / 60.0]
    summary = [requests, failures, median, median * 1.1, 1.5, p95_ms, 935.0, *rates]
    return [kind, name, *summary, *[median] * 5, *[p95_ms] * 6]


def _stats_rows(spec: RunSpec) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for region, load in spec.loads.items():
        browse, search = load.requests - load.requests // 2, load.requests // 2
        failed = load.unavailable + sum(load.dishonest.values())
        rows.append(stats_row("GET", f"/discover [{region}]", browse, failed, load.p95_ms))
        rows.append(stats_row("GET", f"/discover?q [{region}]", search, 0, load.search_p95_ms))
        if load.staleness_p95_ms is not None:
            rows.append(stats_row("STALENESS", region, load.requests, 0, load.staleness_p95_ms))
    total = sum(load.requests for load in spec.loads.values())
    rows.append(stats_row("", "Aggregated", total, 0, 50))
    return rows


def _failure_rows(spec: RunSpec) -> list[list[Any]]:
    seen = ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"]
    rows: list[list[Any]] = []
    for region, load in spec.loads.items():
        name = f"/discover [{region}]"
        for message, count in load.dishonest.items():
            rows.append(["GET", name, f"CatchResponseError('dishonest: {message}')", count, *seen])
        if load.unavailable:
            error = "CatchResponseError('unavailable: 503 no snapshot yet')"
            rows.append(["GET", name, error, load.unavailable, *seen])
    return rows


def _ledger_rows(ledger: list[tuple[str, str]]) -> list[list[Any]]:
    return [
        [
            1700000000.0 + n,
            region,
            kind,
            "GET",
            f"/catalog?region={region}",
            200,
            9000,
            4500,
            "fin",
            3.5,
            json.dumps({"keep_fraction": 0.5}),
        ]
        for n, (region, kind) in enumerate(ledger)
    ]


def _snapshots(spec: RunSpec) -> dict[str, Any]:
    start = {region: CacheEntry() for region in spec.loads}
    end: dict[str, CacheEntry | None] = {region: CacheEntry() for region in spec.loads}
    end.update(spec.end_cache)
    return {
        "snapshots": [
            {"label": "start", "taken_at": 1700000000.0, "regions": _cache(start)},
            {"label": "end", "taken_at": 1700000060.0, "regions": _cache(end)},
        ]
    }


def _cache(entries: dict[str, CacheEntry] | dict[str, CacheEntry | None]) -> dict[str, Any]:
    return {
        region: {**entry.__dict__, "breaker": "closed"}
        for region, entry in entries.items()
        if entry is not None
    }


def _run_info(spec: RunSpec) -> dict[str, Any]:
    return {
        "target": spec.target,
        "ingest": "hardened",
        "seed": 1,
        "profile": {spec.target: {"probability": 0.7, "types": ["truncate"]}},
        "regions": list(spec.loads),
        "min_items": 50,
        "started_at": 1700000000.0,
        "fault_window": [1700000001.0, 1700000059.0],
    }


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2))
