"""The nightly storm: one region a night, picked from the date, with a history of verdicts.

    python -m storm.nightly [--date YYYY-MM-DD] [--random] [--seed N] [--duration 2m]

The target rotates through the regions with the date, so two runs on the same date lie
to the same region and eight nights cover every region. `--random` picks the target
and the seed at random instead and prints both, so any night can be replayed. Each run
goes into reports/nightly/DATE-TARGET/, and one line per run is appended to
reports/nightly/history.csv. The exit code is the storm's: 1 on FAIL breaks the build.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import subprocess
import sys
from pathlib import Path

from common import REGIONS

ROOT = Path(__file__).resolve().parent.parent
HISTORY_COLUMNS = ("date", "target", "seed", "verdict", "exit_code", "run_dir")


def target_for(day: dt.date) -> str:
    """The region of a date: consecutive days walk through every region in turn."""
    return REGIONS[day.toordinal() % len(REGIONS)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m storm.nightly", description=__doc__)
    parser.add_argument("--date", default="", help="date to take the target from (YYYY-MM-DD)")
    parser.add_argument("--random", action="store_true", help="random target and seed")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault decisions")
    parser.add_argument("--duration", default="2m", help="Locust run time (default 2m)")
    parser.add_argument("--users", type=int, default=16, help="Locust users (default 16)")
    parser.add_argument("--profile", default="profiles/nightly.json", help="fault profile")
    parser.add_argument("--out", default="reports/nightly", help="folder of runs and history")
    return parser.parse_args(argv)


def day_of(text: str) -> dt.date:
    if not text:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        print(f"storm.nightly: --date {text!r}: use YYYY-MM-DD", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    day = day_of(args.date)
    if args.random:
        chooser = random.SystemRandom()
        target = chooser.choice(REGIONS)
        seed = args.seed if args.seed is not None else chooser.randrange(1, 2**31)
    else:
        target = target_for(day)
        seed = args.seed if args.seed is not None else day.toordinal()
    print(f"nightly storm {day}: target {target}, seed {seed}", flush=True)

    out = Path(args.out)
    run_dir = out / f"{day}-{target}"
    run_dir.mkdir(parents=True, exist_ok=True)
    code = run_storm(args, target, seed, run_dir)
    verdict = read_verdict(run_dir)
    append_history(out / "history.csv", [str(day), target, str(seed), verdict, str(code)], run_dir)
    print(f"nightly storm {day}: {verdict} (exit {code}), history in {out / 'history.csv'}")
    return code


def run_storm(args: argparse.Namespace, target: str, seed: int, run_dir: Path) -> int:
    locust = Path(sys.executable).with_name("locust")
    cmd = [str(locust), "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    cmd += ["-u", str(args.users), "-r", str(args.users), "-t", args.duration]
    cmd += ["--csv", str(run_dir / "storm"), "--csv-full-history"]
    cmd += ["--html", str(run_dir / "storm.html"), "--fault-target", target]
    cmd += ["--fault-profile", args.profile, "--fault-seed", str(seed)]
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def read_verdict(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "verdict.json").read_text())["verdict"])
    except (OSError, ValueError, KeyError):
        return "NONE"


def append_history(path: Path, fields: list[str], run_dir: Path) -> None:
    """One line per night; the header is written once, when the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(HISTORY_COLUMNS)
        writer.writerow([*fields, str(run_dir)])


if __name__ == "__main__":
    raise SystemExit(main())
