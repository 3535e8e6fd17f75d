"""Storm start-up: from `make storm` to the first request of a region user.

Runs `make storm` (the venv already present) into a temporary run folder with a short
DURATION, `--runs` times. The storm's own arguments are taken from `make -n storm`, and
one locustfile is added to them (bench/locustfiles/startup_probe.py: no user, only
listeners that write when each start-up step happened). "First request" is the moment
Locust recorded the first response to a region user's request; the clock starts just
before `make` is spawned, so it covers make, Python and Locust's imports, the three
services (upstream simulator, fault proxy, discovery: each a child process that must
report ready), the first ingest of every region (a storm waits until every region is
cached), and spawning the users. Each step's time comes from the storm's log lines
(`upstream ready at ...`) and the probe's marks.

The target: the median time to the first request < 5 s.

    .venv/bin/python bench/startup_bench.py [--runs 3] [--duration-s 3] [--json FILE]
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    ROOT,
    BenchError,
    OneLineParser,
    Result,
    UsageError,
    below,
    bounded_int,
    median,
    require_tool,
    run_main,
    stop_process,
)

TARGET_S = 5.0
BUDGET_S = 150
PROBE = "bench/locustfiles/startup_probe.py"
READY_LINE = re.compile(
    r"^\[(?P<at>[\d-]+ [\d:]+,\d+)\] [^ ]*/INFO/storm\.stack: (?P<name>\w+) ready"
)
STEPS = ("imported", "upstream", "faults", "discovery", "init", "test_start", "first_request")
STEP_WORDS = {
    "imported": "locustfile imported",
    "upstream": "upstream simulator ready",
    "faults": "fault proxy ready",
    "discovery": "discovery ready",
    "init": "every region cached",
    "test_start": "users start",
    "first_request": "first request",
}


def storm_arguments(duration_s: int, run_dir: Path) -> str:
    """The storm's Locust arguments as `make storm` has them, with the probe added."""
    make = require_tool("make", "apt-get install -y make")
    shown = subprocess.run(
        [make, "-n", "storm", f"RUN_DIR={run_dir}", f"DURATION={duration_s}s"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    lines = [line for line in shown.stdout.splitlines() if "locust" in line]
    if shown.returncode != 0 or len(lines) != 1 or "pip" in shown.stdout:
        raise UsageError(
            "make -n storm does not show one ready locust command; create the venv first "
            f"(make storm once): {shown.stdout.strip() or shown.stderr.strip()}"
        )
    words = shlex.split(lines[0])
    arguments = words[1 : words.index("--headless")]
    position = arguments.index("-f") + 1
    arguments[position] = f"{arguments[position]},{PROBE}"
    return shlex.join(arguments)


def one_start(duration_s: int, number: int) -> dict[str, float]:
    """Run `make storm` once; seconds from its spawn to each start-up step."""
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as name:
        folder = Path(name)
        run_dir = folder / "run"
        marks_file = folder / "marks.json"
        arguments = storm_arguments(duration_s, run_dir)
        command = ["make", "storm", f"RUN_DIR={run_dir}", f"DURATION={duration_s}s"]
        command.append(f"STORM_ARGS={arguments}")
        env = {**os.environ, "BLAST_RADIUS_STARTUP_MARKS": str(marks_file)}
        log_path = folder / "storm.log"
        with log_path.open("wb") as log:
            started = time.time()
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            try:
                process.wait(timeout=duration_s + 90)
            finally:
                stop_process(process)
        log_text = log_path.read_text(errors="replace")
        if not marks_file.exists():
            tail = " | ".join(log_text.splitlines()[-3:])
            raise BenchError(
                f"run {number}: the storm made no request (exit {process.returncode}): {tail}"
            )
        steps = {step: at - started for step, at in json.loads(marks_file.read_text()).items()}
        steps |= ready_times(log_text, started)
    if "first_request" not in steps:
        raise BenchError(f"run {number}: no first request recorded")
    return steps


def ready_times(log_text: str, started: float) -> dict[str, float]:
    """Seconds from `started` to each `NAME ready at` line of the storm's log."""
    found: dict[str, float] = {}
    for line in log_text.splitlines():
        match = READY_LINE.match(line)
        if match:
            at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            found[match["name"]] = at - started
    return found


def measure(runs: int, duration_s: int) -> Result:
    results = []
    for number in range(1, runs + 1):
        steps = one_start(duration_s, number)
        results.append(steps)
        shown = ", ".join(
            f"{STEP_WORDS[step]} {steps[step]:.2f}" for step in STEPS if step in steps
        )
        print(f"run {number}: seconds from make storm to: {shown}", flush=True)
    medians = {step: median([r[step] for r in results if step in r]) for step in STEPS}
    result = Result("startup", "make bench (or: .venv/bin/python bench/startup_bench.py)")
    result.figures.append(
        f"median over {runs} runs, seconds from make storm to: "
        + ", ".join(f"{STEP_WORDS[step]} {medians[step]:.2f}" for step in STEPS)
    )
    result.targets = [
        below("make storm to first request, s", medians["first_request"], TARGET_S, " s")
    ]
    print(*result.figures, sep="\n")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="bench/startup_bench.py", description=__doc__)
    parser.add_argument("--runs", type=bounded_int(1, 5), default=3)
    parser.add_argument("--duration-s", type=bounded_int(1, 30), default=3, help="DURATION")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"startup_bench: {exc}", file=sys.stderr)
        return 2
    return run_main(
        "startup_bench", lambda: measure(args.runs, args.duration_s), BUDGET_S, args.json
    )


if __name__ == "__main__":
    sys.exit(main())
