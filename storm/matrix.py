"""Self-validation: every ingest bug is caught by some fault kind, and no kind raises a
false alarm on the bug-free stack.

    python -m storm.matrix [--cells BUG:VARIANT,...] [--out DIR] [--duration 30s]
    python -m storm.matrix --false-alarms N [--seed S] [--out DIR]

The matrix runs one short headless storm per cell: a row is an ingest bug of the
embedded discovery service (or `none`, the bug-free hardened ingest), a column is a
fault variant (a kind with the params that make it bite), lied to the target region with
probability 1. Each bug runs the variants that can reveal it; `none` runs every
variant. A cell shows the storm's verdict and the properties it found broken.

The exit code is 0 when every bug is caught by at least one variant and the bug-free
stack passes everywhere, 1 otherwise, 2 for bad options (checked before any storm runs)
or a storm that refused its own, 130 or 143 when stopped by SIGINT or SIGTERM (the
running storm is stopped first). The table is written as matrix.md and matrix.json in
--out, each storm's files under --out/runs/; a matrix that does not finish writes none.

`--false-alarms N` runs N storms on the bug-free stack instead, each with a target,
fault mix, probability and seed drawn from --seed, and reports how many passed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from locust.util.timespan import parse_timespan

from common import REGIONS
from discovery.ingest.bugs import BUGS
from storm.errors import StormError
from storm.phases import plan
from storm.stack import last_line

ROOT = Path(__file__).resolve().parent.parent
# Short storms: a 95 % bound a few hundred requests decide, a recovery the phase can see.
THRESHOLDS = ROOT / "profiles" / "matrix_thresholds.json"
NO_BUG = "none"
TARGET = "DE"
# The phases of every storm: --duration must leave a fault window between them.
BASELINE = "5s"
RECOVERY = "16s"
# A storm exits 2 when it refuses its options: every other storm would refuse them too.
USAGE_EXIT = 2
# How long a storm told to stop (SIGTERM) may take to stop its stack and write its files.
STOP_GRACE_S = 30.0
# How often the matrix looks for a signal while a storm runs.
POLL_S = 0.2
# Past its run time, a storm has this long to start its stack and judge itself.
STORM_SLACK_S = 300.0
MAX_SHOWN = 200


@dataclass(frozen=True)
class Variant:
    """A fault kind with the params one column of the matrix lies with."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    # The shortest fault window that can show what this variant reveals; the storm is
    # lengthened to hold it when --duration leaves less.
    min_fault_s: float = 0.0

    def duration(self, duration: str) -> str:
        """The run time of this variant's storms: `duration`, or longer for its window."""
        needed_s = parse_timespan(BASELINE) + self.min_fault_s + parse_timespan(RECOVERY)
        if parse_timespan(duration) >= needed_s:
            return duration
        return f"{math.ceil(needed_s)}s"


# One column per way of lying; several columns may share a kind with other params.
VARIANTS: dict[str, Variant] = {
    "slowloris": Variant("slowloris", {"interval_ms": 200, "max_duration_ms": 12000}),
    "truncate": Variant("truncate", {"keep_fraction": 0.5, "end": "fin"}),
    # Half the body under a full Content-Length, then silence: only a deadline ends it.
    "truncate_hang": Variant(
        "truncate", {"keep_fraction": 0.5, "end": "hang", "hang_max_ms": 12000}
    ),
    "dribble_then_reset": Variant("dribble_then_reset", {"keep_fraction": 0.5}),
    "lie_length_short": Variant("lie_length", {"delta_bytes": -32}),
    "lie_length_long": Variant("lie_length", {"delta_bytes": 64}),
    "garbage_empty": Variant("valid_garbage", {"mode": "empty"}),
    "garbage_shrink": Variant("valid_garbage", {"mode": "shrink", "keep_fraction": 0.4}),
    "garbage_null_ids": Variant("valid_garbage", {"mode": "null_ids"}),
    "garbage_duplicated": Variant("valid_garbage", {"mode": "duplicated_items"}),
    "flap": Variant("flap", {"bad_count": 1, "good_count": 1, "status": 503}),
    "flap_3_1": Variant("flap", {"bad_count": 3, "good_count": 1, "status": 503}),
    "clock_future": Variant("clock_skew", {"offset_s": 21600}),
    "clock_past": Variant("clock_skew", {"offset_s": -21600}),
    "modified_after_date": Variant("clock_skew", {"mode": "modified_after_date", "offset_s": 3600}),
    "complete_then_close": Variant("complete_then_close", {"end": "rst"}),
    "chunked_truncate": Variant("chunked_truncate", {"mode": "mid_chunk"}),
    "chunked_no_last_chunk": Variant("chunked_truncate", {"mode": "bare_crlf"}),
    # Nine tenths of the lines: a cut the minimum item count cannot see.
    "unframed_line": Variant("unframed_truncate", {"align": "line", "keep_fraction": 0.9}),
    "gzip_truncate": Variant("encoding_truncate", {"encoding": "gzip"}),
    "html_as_json": Variant(
        "wrong_body_type", {"mode": "maintenance", "content_type": "application/json"}
    ),
    "retry_after_negative": Variant("retry_after_lie", {"status": 503, "mode": "negative"}),
    # Served once after 4 s of silence: longer than the 2 s refresh, shorter than the 5 s
    # cool-down plus the refresh that finds it over. The first good answer comes about
    # 10 s into the window (three failures, then the cool-down) and a breaker that trusts
    # it needs 6 s more to fail three times again: 24 s shows a whole cycle and a half.
    "false_recovery": Variant("false_recovery", {"quiet_ms": 4000, "status": 503}, 24.0),
}

# The variants that can reveal each bug (the bug-free row runs all of them).
REVEALING: dict[str, tuple[str, ...]] = {
    "stream_commit": ("truncate", "chunked_truncate"),
    "no_length_check": ("unframed_line",),
    "no_min_items": ("garbage_empty", "garbage_shrink"),
    "retry_once": ("flap",),
    "trust_clocks": ("clock_future", "modified_after_date"),
    "no_deadline": ("slowloris",),
    "serial_loop": ("slowloris", "truncate_hang"),
    "single_success_breaker": ("false_recovery",),
}


@dataclass(frozen=True)
class Cell:
    """One storm of the matrix: a bug (or none) under one fault variant."""

    bug: str
    variant: str


@dataclass
class CellResult:
    """What one storm concluded, read back from its verdict.json."""

    bug: str
    variant: str
    verdict: str
    exit_code: int
    properties: list[str]
    checks: list[str]
    run_dir: str
    duration_s: float
    upstream_pressure: float | None = None

    @property
    def caught(self) -> bool:
        return self.verdict == "FAIL"

    def label(self) -> str:
        """The table cell: the verdict and, for a FAIL, the broken properties."""
        if self.verdict == "FAIL":
            return "FAIL " + ", ".join(self.properties or ["?"])
        return self.verdict


class MatrixError(Exception):
    """Bad options: one line for the user, exit code 2."""


class Interrupted(Exception):  # noqa: N818 - a signal, not an error
    """SIGINT or SIGTERM reached the matrix."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM, recorded by the handler and acted on by the matrix's own code.

    The handler raises nothing: importing Locust (for its time parser) makes this a
    gevent process, whose signal handlers may run in gevent's hub rather than in the
    code they interrupt.
    """

    def __init__(self) -> None:
        self.received: list[int] = []

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._record)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)

    def check(self) -> None:
        """Raise Interrupted if a signal arrived."""
        if self.received:
            raise Interrupted(self.received[0])


SIGNALS = Signals()


def planned_cells(selection: str) -> list[Cell]:
    """Every cell of the full matrix, or those named in `selection` (BUG:VARIANT,...)."""
    full = [Cell(bug, variant) for bug, variants in REVEALING.items() for variant in variants]
    full += [Cell(NO_BUG, variant) for variant in VARIANTS]
    if not selection.strip():
        return full
    chosen = []
    for item in selection.split(","):
        bug, _, variant = item.strip().partition(":")
        if bug not in (*BUGS, NO_BUG):
            raise MatrixError(f"--cells {item}: unknown bug {bug!r}; use one of {known_bugs()}")
        if variant not in VARIANTS:
            raise MatrixError(
                f"--cells {item}: unknown variant {variant!r}; use one of {' '.join(VARIANTS)}"
            )
        chosen.append(Cell(bug, variant))
    return chosen


def known_bugs() -> str:
    return " ".join([*BUGS, NO_BUG])


def profile_for(variants: Sequence[str], probability: float, target: str) -> dict[str, Any]:
    """A one-region profile lying with `variants` (their kinds must differ)."""
    kinds = [VARIANTS[name].kind for name in variants]
    params = {VARIANTS[name].kind: VARIANTS[name].params for name in variants}
    return {target: {"probability": probability, "types": kinds, "params": params}}


@dataclass(frozen=True)
class StormSpec:
    """How to run the storm of one cell or one false-alarm draw."""

    run_dir: Path
    profile: dict[str, Any]
    target: str
    seed: int
    bugs: str
    duration: str
    users: int


def run_storm(spec: StormSpec) -> tuple[int, float]:
    """Run one headless storm as a child Locust process; return its exit code and time."""
    SIGNALS.check()
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    profile_path = spec.run_dir / "profile.json"
    profile_path.write_text(json.dumps(spec.profile, indent=2))
    locust = Path(sys.executable).with_name("locust")
    cmd = [str(locust), "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    cmd += ["-u", str(spec.users), "-r", str(spec.users), "-t", spec.duration]
    cmd += ["--csv", str(spec.run_dir / "storm"), "--csv-full-history"]
    cmd += ["--fault-target", spec.target, "--fault-profile", str(profile_path)]
    cmd += ["--fault-seed", str(spec.seed), "--thresholds", str(THRESHOLDS)]
    cmd += ["--generation-s", "4", "--baseline", BASELINE, "--recovery", RECOVERY]
    if spec.bugs:
        cmd += ["--bugs", spec.bugs]
    started = time.monotonic()
    log_path = spec.run_dir / "locust.log"
    with log_path.open("w") as log:
        # A session of its own: Ctrl-C reaches the matrix alone, which stops the storm.
        child = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        code = wait_storm(child, parse_timespan(spec.duration) + STORM_SLACK_S)
    SIGNALS.check()
    if code == USAGE_EXIT:
        raise MatrixError(
            f"the storm in {shown(str(spec.run_dir))} exited {USAGE_EXIT}: "
            f"{shown(last_line(log_path))}"
        )
    return code, time.monotonic() - started


def wait_storm(child: subprocess.Popen[bytes], limit_s: float) -> int:
    """The storm's exit code once it ends; stopped early on a signal or past `limit_s`.

    The stop is SIGTERM, so Locust stops its stack and writes its files, then SIGKILL
    after STOP_GRACE_S or on a second signal. A killed storm's stack exits on its own,
    as it does whenever Locust dies.
    """
    started = time.monotonic()
    stop_from: float | None = None
    while True:
        try:
            return child.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
        if stop_from is None and (SIGNALS.received or time.monotonic() - started > limit_s):
            stop_from = time.monotonic()
            child.terminate()
        elif stop_from is not None and (
            len(SIGNALS.received) > 1 or time.monotonic() - stop_from > STOP_GRACE_S
        ):
            child.kill()


def read_result(bug: str, variant: str, run_dir: Path, code: int, took_s: float) -> CellResult:
    """The verdict of a finished storm, with the properties and checks that failed."""
    try:
        verdict = json.loads((run_dir / "verdict.json").read_text())
    except (OSError, ValueError):
        return CellResult(bug, variant, "NONE", code, [], [], str(run_dir), took_s)
    properties = sorted(
        name for name, value in verdict.get("properties", {}).items() if value == "FAIL"
    )
    checks = [
        f"{region} {check['name']}"
        for region, facts in verdict.get("regions", {}).items()
        for check in facts.get("checks", [])
        if check.get("status") == "fail"
    ]
    if verdict.get("recovery", {}).get("status") == "fail":
        checks.append(f"{verdict.get('target')} recovery")
    return CellResult(
        bug,
        variant,
        str(verdict.get("verdict")),
        code,
        properties,
        checks,
        str(run_dir),
        took_s,
        target_pressure(verdict),
    )


def target_pressure(verdict: dict[str, Any]) -> float | None:
    """The target's upstream pressure (fault window over the clean median), if measured."""
    facts = verdict.get("regions", {}).get(verdict.get("target"), {})
    for check in facts.get("checks", []):
        value = check.get("value")
        if check.get("name") == "upstream_pressure" and isinstance(value, int | float):
            return float(value)
    return None


def run_cells(
    cells: list[Cell], out: Path, duration: str, users: int, seed: int
) -> list[CellResult]:
    results: list[CellResult] = []
    for number, cell in enumerate(cells, start=1):
        run_dir = out / "runs" / f"{cell.bug}-{cell.variant}"
        bugs = "" if cell.bug == NO_BUG else cell.bug
        profile = profile_for([cell.variant], 1.0, TARGET)
        run_time = VARIANTS[cell.variant].duration(duration)
        code, took = run_storm(StormSpec(run_dir, profile, TARGET, seed, bugs, run_time, users))
        result = read_result(cell.bug, cell.variant, run_dir, code, took)
        print(
            f"[{number}/{len(cells)}] {cell.bug} x {cell.variant}: {result.label()} ({took:.0f} s)",
            flush=True,
        )
        results.append(result)
    return results


def findings(results: list[CellResult]) -> list[str]:
    """Why the matrix fails: an uncaught bug, or a bug-free cell that did not pass."""
    problems = []
    bugs = dict.fromkeys(result.bug for result in results if result.bug != NO_BUG)
    for bug in bugs:
        if not any(r.caught for r in results if r.bug == bug):
            problems.append(f"{bug}: no fault variant caught it")
    for result in results:
        if result.bug == NO_BUG and result.verdict != "PASS":
            problems.append(f"bug-free stack under {result.variant}: {result.label()}")
    return problems


def conclusion(results: list[CellResult]) -> str:
    """What a matrix without findings showed, of the rows it ran."""
    bugs = len({result.bug for result in results if result.bug != NO_BUG})
    clean = sum(result.bug == NO_BUG for result in results)
    lines = []
    if bugs:
        lines.append("every bug was caught" if bugs > 1 else "the bug was caught")
    if clean:
        lines.append(
            "the bug-free stack passed every cell" if clean > 1 else "the bug-free stack passed"
        )
    return "; ".join(lines)


def render_matrix(results: list[CellResult]) -> str:
    """The table as markdown: rows bugs, columns variants."""
    variants = list(dict.fromkeys(r.variant for r in results))
    rows = list(dict.fromkeys(r.bug for r in results))
    by_cell = {(r.bug, r.variant): r for r in results}
    lines = [
        "| bug | " + " | ".join(variants) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for bug in rows:
        cells = [by_cell[(bug, v)].label() if (bug, v) in by_cell else "" for v in variants]
        lines.append(f"| {bug} | " + " | ".join(cells) + " |")
    legend = [f"- `{name}`: {text}" for name, text in BUGS.items() if name in rows]
    if NO_BUG in rows:
        legend += [f"- `{NO_BUG}`: the hardened ingest with every defence on"]
    # In the table's order: the order the cells ran in.
    columns = [
        f"- `{name}`: {VARIANTS[name].kind} {json.dumps(VARIANTS[name].params)}"
        + (
            f", in storms of at least a {VARIANTS[name].min_fault_s:g} s fault window"
            if VARIANTS[name].min_fault_s
            else ""
        )
        for name in variants
    ]
    return "\n".join([*lines, "", "Rows:", *legend, "", "Columns:", *columns, ""])


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as file:
        file.write(text)
    os.replace(file.name, path)


def write_all(folders: list[Path], files: dict[str, str]) -> None:
    """Write every file into every folder; a signal from now on no longer stops the matrix."""
    for folder in folders:
        for name, text in files.items():
            write_atomic(folder / name, text)


def draw_false_alarm(rng: random.Random) -> tuple[str, list[str], float, int]:
    """A random target, 1-4 variants of distinct kinds, probability and fault seed."""
    target = rng.choice(REGIONS)
    by_kind: dict[str, str] = {}
    for name in rng.sample(list(VARIANTS), k=len(VARIANTS)):
        by_kind.setdefault(VARIANTS[name].kind, name)
    variants = rng.sample(sorted(by_kind.values()), k=rng.randint(1, min(4, len(by_kind))))
    # At 0.6 or more, a fault window of a few ingest cycles all but surely sees a lie: a
    # storm whose target received none is INCONCLUSIVE, which proves nothing either way.
    probability = round(rng.uniform(0.6, 1.0), 2)
    return target, sorted(variants), probability, rng.randrange(1, 2**31)


def run_false_alarms(runs: int, args: argparse.Namespace, publish: list[Path]) -> int:
    """Run `runs` drawn storms on the bug-free stack; 0 when every one passed."""
    out, duration, users, seed = Path(args.out), args.duration, args.users, args.seed
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    for number in range(1, runs + 1):
        target, variants, probability, fault_seed = draw_false_alarm(rng)
        run_dir = out / "runs" / f"false-alarm-{number:02d}"
        profile = profile_for(variants, probability, target)
        spec = StormSpec(run_dir, profile, target, fault_seed, "", duration, users)
        code, took = run_storm(spec)
        result = read_result(NO_BUG, "+".join(variants), run_dir, code, took)
        entry: dict[str, Any] = {"run": number, "target": target, "probability": probability}
        entry |= {"seed": fault_seed, **asdict(result)}
        results.append(entry)
        print(
            f"[{number}/{runs}] {target} {'+'.join(variants)} p={probability} "
            f"seed={fault_seed}: {result.label()} ({took:.0f} s)",
            flush=True,
        )
    passed = sum(1 for entry in results if entry["verdict"] == "PASS")
    failed = sum(1 for entry in results if entry["verdict"] == "FAIL")
    summary = (
        f"{passed}/{runs} storms passed on the bug-free stack (seed {seed}); "
        f"{failed} false alarms, {runs - passed - failed} undecided"
    )
    lines = [
        "# False-alarm storms",
        "",
        f"{duration} storms, {users} users, each drawn from seed {seed} "
        "(`python -m storm.matrix --false-alarms N`).",
        "",
        summary,
        "",
        "| run | target | variants | p | fault seed | verdict | upstream pressure "
        "| checks not passed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in results:
        pressure = entry["upstream_pressure"]
        lines.append(
            f"| {entry['run']} | {entry['target']} | {entry['variant']} | "
            f"{entry['probability']} | {entry['seed']} | {entry['verdict']} | "
            f"{'-' if pressure is None else f'{pressure:.2f}'} | {', '.join(entry['checks'])} |"
        )
    document = {"seed": seed, "runs": runs, "passed": passed, "failed": failed, "storms": results}
    SIGNALS.check()
    write_all(
        [out, *publish],
        {
            "false_alarms.md": "\n".join([*lines, ""]),
            "false_alarms.json": json.dumps(document, indent=2) + "\n",
        },
    )
    print(summary)
    return 0 if passed == runs else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m storm.matrix", description=__doc__)
    parser.add_argument("--cells", default="", help="only these cells: BUG:VARIANT,...")
    parser.add_argument("--out", default="reports/matrix", help="folder of the table and runs")
    parser.add_argument("--duration", default="34s", help="run time of each storm")
    parser.add_argument("--users", type=int, default=8, help="Locust users of each storm")
    parser.add_argument("--seed", type=int, default=1, help="fault seed (false alarms: draws)")
    parser.add_argument("--false-alarms", type=int, default=None, metavar="N", help="run N draws")
    parser.add_argument("--publish", default="", help="also copy the table into this folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    SIGNALS.install()
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        publish = [Path(args.publish)] if args.publish else []
        check_options(args, publish)
        if args.false_alarms is not None:
            return run_false_alarms(args.false_alarms, args, publish)
        return run_matrix(args, publish)
    except MatrixError as exc:
        print(f"storm.matrix: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"storm.matrix: stopped by {exc}; no table written", file=sys.stderr)
        return 128 + exc.signum


def run_matrix(args: argparse.Namespace, publish: list[Path]) -> int:
    """Run every planned cell, then write and print the table."""
    cells = planned_cells(args.cells)
    started = time.monotonic()
    results = run_cells(cells, Path(args.out), args.duration, args.users, args.seed)
    took_s = time.monotonic() - started
    settings = (
        f"{args.duration} storms ({BASELINE} baseline, {RECOVERY} recovery, the fault window "
        f"between; longer where a column says so), {args.users} users, fault seed {args.seed}"
    )
    markdown, document = summarize(results, took_s, settings)
    SIGNALS.check()
    write_all(
        [Path(args.out), *publish],
        {"matrix.md": markdown, "matrix.json": json.dumps(document, indent=2) + "\n"},
    )
    print(markdown, end="")
    return 1 if document["problems"] else 0


def check_options(args: argparse.Namespace, publish: list[Path]) -> None:
    """Refuse, before any storm runs, the options every storm would refuse."""
    if args.users < len(REGIONS):
        raise MatrixError(
            f"--users {args.users}: every region needs a user; use {len(REGIONS)} or more"
        )
    if args.false_alarms is not None and args.false_alarms < 1:
        raise MatrixError(f"--false-alarms {args.false_alarms}: use a count of 1 or more")
    check_duration(args.duration)
    if args.false_alarms is None:
        planned_cells(args.cells)
    for option, folder in [("--out", Path(args.out)), *(("--publish", p) for p in publish)]:
        check_folder(option, folder)


def check_duration(text: str) -> None:
    """The storm's run time, read as Locust reads -t, must hold the matrix's phases."""
    try:
        run_s = float(parse_timespan(text))
    except ValueError:
        raise MatrixError(
            f"--duration {shown(text)}: use Locust's time format, like 34s or 1m"
        ) from None
    try:
        plan(run_s, BASELINE, "", RECOVERY)
    except StormError:
        shortest_s = parse_timespan(BASELINE) + parse_timespan(RECOVERY) + 1
        raise MatrixError(
            f"--duration {shown(text)}: leaves no fault window between the {BASELINE} "
            f"baseline and the {RECOVERY} recovery; use {shortest_s}s or more"
        ) from None


def check_folder(option: str, folder: Path) -> None:
    """Refuse a folder that is not one, or that cannot be created or written in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise MatrixError(
            f"{option} {shown(str(folder))}: {shown(str(existing))} is not a folder; give a folder"
        )
    try:
        # A real write (removed at once) is the only test that holds for root too.
        with tempfile.TemporaryDirectory(dir=existing, prefix=".matrix-probe-"):
            pass
    except OSError as exc:
        raise MatrixError(
            f"{option} {shown(str(folder))}: cannot write in {shown(str(existing))} "
            f"({exc.strerror or type(exc).__name__}); give a folder you can write to"
        ) from None


def shown(text: str) -> str:
    """`text` as a message echoes it: as is when printable, else its repr; cut short."""
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def summarize(
    results: list[CellResult], took_s: float, settings: str
) -> tuple[str, dict[str, Any]]:
    """The table with its conclusion, as markdown and as the JSON document."""
    problems = findings(results)
    concluded = "\n".join(f"- {line}" for line in problems or [conclusion(results)])
    title = (
        f"# Self-validation matrix\n\n{settings}; target {TARGET}, each variant at "
        f"probability 1 (`python -m storm.matrix`).\n\n"
    )
    table = render_matrix(results)
    markdown = f"{title}{table}\n{len(results)} storms in {took_s:.0f} s\n{concluded}\n"
    document = {
        "results": [asdict(r) for r in results],
        "problems": problems,
        "took_s": took_s,
    }
    return markdown, document


if __name__ == "__main__":
    raise SystemExit(main())
