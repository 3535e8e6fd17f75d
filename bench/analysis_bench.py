"""How long the analysis takes next to pandas merely reading the same files.

Writes a day-long storm's run folder for the eight regions into a temporary folder:
Locust's stats, failures and full history (one row per name per second, the names of
a phase appearing when the phase starts, as Locust writes them) and the suite's ledger,
snapshots and run file. Then it times, three times each, `pandas.read_csv` of every
CSV of the folder with default options and the whole analysis (`analysis.run`, reports
and chart included), in alternating rounds, and prints both medians and their ratio.
The target is a ratio of at most 3.

    .venv/bin/python bench/analysis_bench.py [--hours 24] [--runs 3] [--keep DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import Result, Target  # noqa: E402

import analysis  # noqa: E402
from common import REGIONS  # noqa: E402
from faults.ledger import COLUMNS as LEDGER_COLUMNS  # noqa: E402

TARGET = "DE"
STARTED_AT = 1_760_000_000
PERCENTILES = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")
HISTORY_COLUMNS = [
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
STATS_COLUMNS = [
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
    *PERCENTILES,
]
CHUNK_S = 1800


class Name:
    """One Locust row name of the storm and how it behaves."""

    def __init__(self, kind: str, text: str, region: str, phase: str, rate_per_s: float) -> None:
        self.kind = kind
        self.text = text
        self.region = region
        self.phase = phase
        self.rate_per_s = rate_per_s
        faulty = region == TARGET and phase == "fault"
        self.failure_share = 0.4 if faulty and kind == "GET" else 0.0001
        self.p95_ms = 2200.0 if faulty else (2500.0 if kind == "STALENESS" else 45.0)


def storm_names() -> list[Name]:
    names = []
    for phase in ("baseline", "fault", "recovery"):
        for region in REGIONS:
            names.append(Name("GET", f"/discover [{region}] {phase}", region, phase, 9.0))
            names.append(Name("GET", f"/discover?q [{region}] {phase}", region, phase, 3.0))
            names.append(Name("STALENESS", f"{region} {phase}", region, phase, 12.0))
    return names


def phase_spans(hours: float) -> dict[str, tuple[int, int]]:
    """Baseline and recovery take an hour each (a twelfth of a short run), fault the rest."""
    total = int(hours * 3600)
    edge = min(3600, total // 12)
    return {
        "baseline": (STARTED_AT, STARTED_AT + edge),
        "fault": (STARTED_AT + edge, STARTED_AT + total - edge),
        "recovery": (STARTED_AT + total - edge, STARTED_AT + total),
    }


def write_history(path: Path, names: list[Name], spans: dict[str, tuple[int, int]]) -> int:
    """Append half an hour at a time; returns the number of rows written."""
    rng = np.random.default_rng(1)
    end = max(stop for _, stop in spans.values())
    totals = {name.text: [0.0, 0.0] for name in names}
    rows = 0
    with path.open("w", newline="") as out:
        out.write(",".join(HISTORY_COLUMNS) + "\r\n")
        for chunk_start in range(STARTED_AT + 1, end + 1, CHUNK_S):
            seconds = np.arange(chunk_start, min(chunk_start + CHUNK_S, end + 1))
            frame = _history_chunk(seconds, names, spans, totals, rng)
            frame.to_csv(out, header=False, index=False, lineterminator="\r\n")
            rows += len(frame)
    return rows


def _history_chunk(
    seconds: np.ndarray,
    names: list[Name],
    spans: dict[str, tuple[int, int]],
    totals: dict[str, list[float]],
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Rows ordered by second, then name, as Locust writes them."""
    parts = []
    for order, name in enumerate(names):
        start, stop = spans[name.phase]
        alive = seconds[seconds > start]
        if not alive.size:
            continue
        active = alive <= stop
        per_s = np.where(active, rng.poisson(name.rate_per_s, alive.size), 0).astype(float)
        failed = np.where(active, rng.binomial(per_s.astype(int), name.failure_share), 0)
        requests = totals[name.text][0] + np.cumsum(per_s)
        failures = totals[name.text][1] + np.cumsum(failed)
        totals[name.text] = [float(requests[-1]), float(failures[-1])]
        p95 = np.where(active, np.round(name.p95_ms * rng.uniform(0.8, 1.2, alive.size)), 0)
        series = {"per_s": per_s, "failed": failed, "p95": p95}
        parts.append(
            _name_rows(name, order, alive, series | {"requests": requests, "failures": failures})
        )
    parts.append(_aggregated_rows(seconds, len(names)))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["Timestamp", "_order"], kind="stable").drop(columns="_order")


def _name_rows(
    name: Name, order: int, alive: np.ndarray, series: dict[str, np.ndarray]
) -> pd.DataFrame:
    """The name's rows for the seconds it is alive; `series` holds one value per second."""
    per_s, failed, p95 = series["per_s"], series["failed"], series["p95"]
    requests, failures = series["requests"], series["failures"]
    columns: dict[str, object] = {
        "Timestamp": alive,
        "User Count": 64,
        "Type": name.kind,
        "Name": name.text,
        "Requests/s": per_s,
        "Failures/s": failed.astype(float),
    }
    for percentile in PERCENTILES:
        columns[percentile] = (p95 * (0.5 if PERCENTILES.index(percentile) < 4 else 1.0)).astype(
            int
        )
    columns.update(
        {
            "Total Request Count": requests.astype(int),
            "Total Failure Count": failures.astype(int),
            "Total Median Response Time": int(name.p95_ms // 2),
            "Total Average Response Time": name.p95_ms / 1.7 + per_s / 1000.0,
            "Total Min Response Time": 0.5,
            "Total Max Response Time": name.p95_ms * 3,
            "Total Average Content Size": 0.0 if name.kind == "STALENESS" else 9350.0,
            "_order": order,
        }
    )
    return pd.DataFrame(columns)


def _aggregated_rows(seconds: np.ndarray, order: int) -> pd.DataFrame:
    columns: dict[str, object] = {name: 0 for name in HISTORY_COLUMNS}
    columns.update({"Timestamp": seconds, "Type": "", "Name": "Aggregated", "_order": order})
    return pd.DataFrame(columns)


def write_run(folder: Path, hours: float) -> tuple[Path, int]:
    """The whole run folder; returns PREFIX and the history's row count."""
    prefix = folder / "storm"
    names = storm_names()
    spans = phase_spans(hours)
    rows = write_history(Path(f"{prefix}_stats_history.csv"), names, spans)
    history = pd.read_csv(
        f"{prefix}_stats_history.csv",
        usecols=["Name", "Total Request Count", "Total Failure Count"],
    )
    final = history.groupby("Name").last()
    _write_stats(Path(f"{prefix}_stats.csv"), names, final)
    _write_failures(Path(f"{prefix}_failures.csv"), names, final)
    _write_ledger(Path(f"{prefix}_ledger.csv"), spans["fault"])
    _write_json(Path(f"{prefix}_snapshots.json"), _snapshots(spans))
    _write_json(Path(f"{prefix}_run.json"), _run_file(spans))
    return prefix, rows


def _write_stats(path: Path, names: list[Name], final: pd.DataFrame) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(STATS_COLUMNS)
        total = 0
        for name in names:
            requests, failures = (int(v) for v in final.loc[name.text].to_numpy())
            total += requests
            p95 = int(name.p95_ms)
            summary = [requests, failures, p95 // 2, p95 / 1.7, 0.5, p95 * 3, 9350.0, 1.0, 0.0]
            writer.writerow([name.kind, name.text, *summary, *[p95 // 2] * 5, *[p95] * 6])
        # Locust gives the Aggregated row its percentiles too; analysis refuses short rows.
        aggregated = ["", "Aggregated", total, 0, 40, 50.0, 0.5, 9000, 9350.0, 1.0, 0.0]
        writer.writerow([*aggregated, *[40] * 5, *[90] * 6])


def _write_failures(path: Path, names: list[Name], final: pd.DataFrame) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["Method", "Name", "Error", "Occurrences", "First Seen", "Last Seen"])
        for name in names:
            failures = int(final["Total Failure Count"][name.text])
            if name.kind == "GET" and failures:
                error = "CatchResponseError('unavailable: 503 no snapshot yet')"
                writer.writerow(["GET", name.text, error, failures, "", ""])


def _write_ledger(path: Path, fault: tuple[int, int]) -> None:
    """A lie every third second of the fault window, slowloris held up to 3 s."""
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(LEDGER_COLUMNS)
        for n, second in enumerate(range(fault[0], fault[1], 3)):
            kind = ("truncate", "slowloris", "valid_garbage")[n % 3]
            held = 3000.0 if kind == "slowloris" else 4.0
            path_cells = ["GET", f"/catalog?region={TARGET}", 200, 9000, 4500]
            writer.writerow([second, TARGET, kind, *path_cells, "fin", held, "{}", "closed"])


def _snapshots(spans: dict[str, tuple[int, int]]) -> dict[str, object]:
    entry = {"rows": 60, "digest": "d" * 64, "generation": 4, "truth_rows": 60}
    regions = {region: {**entry, "truth_digest": "d" * 64} for region in REGIONS}
    labels = {
        "start": spans["baseline"][0],
        "fault_start": spans["fault"][0],
        "fault_end": spans["fault"][1],
        "end": spans["recovery"][1],
    }
    fault_end = spans["fault"][1]
    return {
        "snapshots": [
            {"label": label, "taken_at": at, "regions": regions} for label, at in labels.items()
        ],
        "recovery": {
            "region": TARGET,
            "fault_end": fault_end,
            "recovered_at": fault_end + 9.5,
            "recovered_after_s": 9.5,
            "watched_s": 60.0,
        },
    }


def _run_file(spans: dict[str, tuple[int, int]]) -> dict[str, object]:
    return {
        "target": TARGET,
        "regions": list(REGIONS),
        "phases": [{"name": n, "start": s, "end": e} for n, (s, e) in spans.items()],
        "fault_window": list(spans["fault"]),
    }


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data))


def timed_s(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def alternating_medians_s(
    read: Callable[[], object], analyse: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Median seconds of each side over `runs` rounds, the order swapped every round."""
    read_s: list[float] = []
    analysis_s: list[float] = []
    for number in range(runs):
        if number % 2 == 0:
            read_s.append(timed_s(read))
            analysis_s.append(timed_s(analyse))
        else:
            analysis_s.append(timed_s(analyse))
            read_s.append(timed_s(read))
    return statistics.median(read_s), statistics.median(analysis_s)


def read_everything(folder: Path) -> None:
    for path in sorted(folder.glob("*.csv")):
        pd.read_csv(path)


def analyse(prefix: Path, out: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        analysis.run(str(prefix), out_dir=str(out))


@contextlib.contextmanager
def run_folder(keep: str | None) -> Iterator[Path]:
    if keep:
        folder = Path(keep)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="analysis-bench-") as name:
        yield Path(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="storm length (default 24)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side")
    parser.add_argument("--keep", metavar="DIR", help="write the run folder here and keep it")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with run_folder(args.keep) as folder:
        started = time.perf_counter()
        prefix, rows = write_run(folder, args.hours)
        size_mb = sum(p.stat().st_size for p in folder.glob("*.csv")) / 1e6
        described = (
            f"run folder: {args.hours:g} h, {len(REGIONS)} regions, {rows} history rows, "
            f"{size_mb:.0f} MB of CSV"
        )
        print(f"{described}, written in {time.perf_counter() - started:.1f} s")
        read_s, analysis_s = alternating_medians_s(
            lambda: read_everything(folder), lambda: analyse(prefix, folder / "reports"), args.runs
        )
    ratio = analysis_s / read_s
    figures = [
        described,
        f"pandas.read_csv of every CSV: median {read_s:.2f} s of {args.runs}",
        f"python -m analysis (reports and chart included): median {analysis_s:.2f} s",
    ]
    print(*figures[1:], sep="\n")
    print(f"ratio analysis / read: {ratio:.2f} (target <= 3)")
    if args.json is not None:
        command = (
            f"make bench (or: .venv/bin/python bench/analysis_bench.py --hours {args.hours:g})"
        )
        result = Result("analysis", command, figures)
        result.targets = [Target("analysis / read time", ratio, "<= 3", ratio <= 3)]
        result.write(args.json)
    return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
