"""Load generation: the storm's region users next to a bare FastHttpUser, same endpoint.

Starts the upstream simulator and the embedded discovery service (`python -m discovery
serve`, ingest straight from the upstream) on free loopback ports and waits until every
region is cached. Then Locust runs headless, one process, in alternating rounds:

- storm: the storm's region users (storm/users.py: every response parsed and checked
  by storm/checks.py, its staleness reported), bench/locustfiles/storm_users.py;
- bare: a FastHttpUser with the same mix of reads and searches that keeps nothing of
  the answers, bench/locustfiles/bare_user.py.

Both run USERS users without pauses (wait_time 0), so their requests per second are
what one Locust process can generate against this discovery. Requests are counted from
Locust's stats CSV (type GET only: the storm's STALENESS rows are not requests), which
it rewrites every second, between the second rewrite with requests (every user spawned)
and the last one before it exits; CPU times are read at the same moments.
The target: storm >= 85 % of bare. Locust's CPU time per request is printed beside it,
since a discovery slower than both generators would make the ratio say nothing.

    .venv/bin/python bench/loadgen_bench.py [--duration-s 8] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    PYTHON,
    ROOT,
    BenchError,
    OneLineParser,
    Result,
    Services,
    Usage,
    UsageError,
    alternate,
    at_least,
    bounded_int,
    cpu_s,
    machine_busy_s,
    median,
    run_main,
    services,
    stop_process,
)

USERS = 16
RATIO_TARGET = 0.85
BUDGET_S = 150
LOCUSTFILES = {
    "storm": ROOT / "bench" / "locustfiles" / "storm_users.py",
    "bare": ROOT / "bench" / "locustfiles" / "bare_user.py",
}


@dataclass(frozen=True)
class Run:
    """One Locust run: GET requests per second, failures, and CPU shares."""

    requests_per_s: float
    failures: int
    locust_cpu_us: float
    usage: Usage


@dataclass(frozen=True)
class Options:
    duration_s: int
    rounds: int
    json_path: Path | None


def parse_options(argv: list[str]) -> Options:
    parser = OneLineParser(prog="bench/loadgen_bench.py", description=__doc__)
    parser.add_argument("--duration-s", type=bounded_int(5, 30), default=8, help="per run")
    parser.add_argument("--rounds", type=bounded_int(1, 5), default=3)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    return Options(args.duration_s, args.rounds, args.json)


def start_discovery(running: Services) -> str:
    upstream = running.start_python("upstream", ["-m", "discovery", "upstream"])
    db = running.folder / "discovery.db"
    serve = ["-m", "discovery", "serve", "--upstream", upstream, "--db", str(db)]
    url = running.start_python("discovery", serve)
    running.wait_http("discovery", f"{url}/health", lambda body: bool(body.get("warm")))
    return url


def run_locust(running: Services, side: str, url: str, duration_s: int, number: int) -> Run:
    """One headless Locust run of `side` against `url`, measured in its steady state."""
    prefix = running.folder / f"{side}-{number}"
    command = [PYTHON, "-m", "locust", "-f", str(LOCUSTFILES[side]), "--headless"]
    command += ["-u", str(USERS), "-r", str(USERS), "-t", f"{duration_s}s", "--host", url]
    command += ["--only-summary", "--csv", str(prefix), "--loglevel", "WARNING"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stats_csv = Path(f"{prefix}_stats.csv")
    with (running.folder / f"locust-{side}-{number}.log").open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            samples = _sample_until_exit(process, stats_csv, running, duration_s + 60)
        finally:
            stop_process(process)
    if process.returncode not in (0, 1):
        raise BenchError(f"locust ({side}) exited {process.returncode}: see {log.name}")
    return _steady_state(samples, side)


@dataclass(frozen=True)
class Sample:
    """Locust's cumulative GET counts when it rewrote its stats CSV, and CPU times then."""

    at: float
    requests: int
    failures: int
    cpu_s: dict[str, float]


def _sample_until_exit(
    process: subprocess.Popen[bytes], stats_csv: Path, running: Services, limit_s: float
) -> list[Sample]:
    """A sample each time Locust rewrites its stats CSV (every second), until it exits."""
    pids = {"locust": process.pid, "discovery": running.pid("discovery")}
    samples: list[Sample] = []
    last_mtime = 0.0
    deadline = time.monotonic() + limit_s
    while process.poll() is None:
        if time.monotonic() > deadline:
            raise BenchError(f"locust did not finish within {limit_s:.0f} s")
        time.sleep(0.05)
        mtime = stats_csv.stat().st_mtime if stats_csv.exists() else 0.0
        if mtime == last_mtime:
            continue
        cpu = {name: cpu_s(pid) for name, pid in pids.items()}
        cpu["machine"] = machine_busy_s()
        counts = _get_counts(stats_csv)
        if counts is not None:
            last_mtime = mtime
            samples.append(Sample(time.monotonic(), *counts, cpu))
    return samples


def _steady_state(samples: list[Sample], side: str) -> Run:
    # Skip the spawning second and the exit: from the second sample with requests to
    # the last one written while the users were still running.
    running = [sample for sample in samples if sample.requests > 0][1:-1]
    if len(running) < 3:
        raise BenchError(f"locust ({side}) ran too briefly to measure: {len(running)} samples")
    first, last = running[0], running[-1]
    wall_s = last.at - first.at
    requests = last.requests - first.requests
    cores = {
        name: (last.cpu_s[name] - first.cpu_s[name]) / wall_s for name in ("locust", "discovery")
    }
    busy = (last.cpu_s["machine"] - first.cpu_s["machine"]) / wall_s
    cores["others"] = max(0.0, busy - sum(cores.values()))
    locust_cpu_us = cores["locust"] * wall_s * 1e6 / max(requests, 1)
    return Run(requests / wall_s, last.failures, locust_cpu_us, Usage(cores, wall_s))


def _get_counts(stats_csv: Path) -> tuple[int, int] | None:
    """Cumulative GET requests and failures; None while the file is being rewritten."""
    requests = failures = 0
    try:
        with stats_csv.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["Type"] == "GET":
                    requests += int(row["Request Count"])
                    failures += int(row["Failure Count"])
    except (OSError, KeyError, ValueError, TypeError):
        return None
    return requests, failures


def measure(options: Options) -> Result:
    with services("loadgen-bench-") as running:
        url = start_discovery(running)
        counter = {"storm": 0, "bare": 0}

        def side(name: str) -> Run:
            counter[name] += 1
            return run_locust(running, name, url, options.duration_s, counter[name])

        def show(number: int, name: str, run: Run) -> None:
            print(
                f"round {number} {name:5s} {run.requests_per_s:6.0f} req/s, failures "
                f"{run.failures}, locust {run.locust_cpu_us:4.0f} us CPU/request; cpu "
                f"{run.usage.text()}",
                flush=True,
            )

        print(
            f"locust headless, 1 process, {USERS} users, wait_time 0, {options.duration_s} s "
            f"per run, against {url}/discover"
        )
        runs = alternate(
            {"storm": lambda: side("storm"), "bare": lambda: side("bare")}, options.rounds, show
        )
    return report(runs)


def report(runs: dict[str, list[Run]]) -> Result:
    def rps(name: str) -> float:
        return median([run.requests_per_s for run in runs[name]])

    def cpu_us(name: str) -> float:
        return median([run.locust_cpu_us for run in runs[name]])

    def share(name: str, process: str) -> float:
        return median([run.usage.cores.get(process, 0.0) for run in runs[name]])

    result = Result("loadgen", "make bench (or: .venv/bin/python bench/loadgen_bench.py)")
    for name, side_runs in runs.items():
        failures = sum(run.failures for run in side_runs)
        result.figures.append(
            f"{name}: {rps(name):.0f} req/s, {failures} failures, locust "
            f"{cpu_us(name):.0f} us CPU/request; cpu locust {share(name, 'locust'):.2f}, "
            f"discovery {share(name, 'discovery'):.2f}, others {share(name, 'others'):.2f} core"
        )
    result.figures.append(
        f"locust CPU per request, bare / storm: {cpu_us('bare') / cpu_us('storm'):.2f} "
        "(what the checks cost the generator, whoever limits the throughput)"
    )
    result.targets = [at_least("storm users / bare user req/s", rps("storm") / rps("bare"), 0.85)]
    print(*result.figures, sep="\n")
    return result


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"loadgen_bench: {exc}", file=sys.stderr)
        return 2
    return run_main("loadgen_bench", lambda: measure(options), BUDGET_S, options.json_path)


if __name__ == "__main__":
    sys.exit(main())
