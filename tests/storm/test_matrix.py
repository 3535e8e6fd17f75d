"""The self-validation matrix: real short storms, and its bookkeeping on made-up results."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from discovery.ingest.bugs import BUGS
from faults.registry import KINDS
from storm import matrix
from storm.matrix import (
    NO_BUG,
    REVEALING,
    VARIANTS,
    CellResult,
    findings,
    read_result,
    render_matrix,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]


def run_matrix(
    *args: str, timeout_s: float = 220, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storm.matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        env=env,
    )


def result(bug: str, variant: str, verdict: str, *properties: str) -> CellResult:
    return CellResult(
        bug, variant, verdict, 1 if verdict == "FAIL" else 0, [*properties], [], "", 1
    )


@pytest.mark.timeout(240)
def test_a_bug_is_caught_and_the_bug_free_stack_passes(tmp_path: Path) -> None:
    done = run_matrix(
        "--cells",
        "stream_commit:truncate,none:truncate",
        "--duration",
        "30s",
        "--out",
        str(tmp_path),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((tmp_path / "matrix.json").read_text())
    cells = {(r["bug"], r["variant"]): r for r in document["results"]}
    assert cells[("stream_commit", "truncate")]["verdict"] == "FAIL"
    assert "honesty" in cells[("stream_commit", "truncate")]["properties"]
    assert cells[(NO_BUG, "truncate")]["verdict"] == "PASS"
    assert document["problems"] == []
    table = (tmp_path / "matrix.md").read_text()
    assert "| stream_commit | FAIL honesty |" in table


@pytest.mark.parametrize(
    ("cells", "named"),
    [("gremlins:truncate", "gremlins"), ("none:sideways", "sideways"), ("none", "''")],
)
def test_an_unknown_cell_is_one_line_and_exit_2(tmp_path: Path, cells: str, named: str) -> None:
    done = run_matrix("--cells", cells, "--out", str(tmp_path))

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert named in done.stderr and "use one of" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_every_bug_has_a_column_and_every_column_a_real_kind() -> None:
    assert set(REVEALING) == set(BUGS)
    for variants in REVEALING.values():
        assert variants and set(variants) <= set(VARIANTS)
    assert {variant.kind for variant in VARIANTS.values()} == set(KINDS)


def test_an_uncaught_bug_and_a_false_alarm_are_findings() -> None:
    results = [
        result("stream_commit", "truncate", "FAIL", "honesty"),
        result("serial_loop", "slowloris", "PASS"),
        result(NO_BUG, "truncate", "PASS"),
        result(NO_BUG, "flap", "FAIL", "containment"),
        result(NO_BUG, "slowloris", "INCONCLUSIVE"),
    ]

    problems = findings(results)

    assert problems == [
        "serial_loop: no fault variant caught it",
        "bug-free stack under flap: FAIL containment",
        "bug-free stack under slowloris: INCONCLUSIVE",
    ]
    table = render_matrix(results)
    assert "| bug | truncate | slowloris | flap |" in table
    assert "| serial_loop |  | PASS |  |" in table


@pytest.mark.parametrize(
    ("ran", "conclusion"),
    [
        ([("single_success_breaker", "false_recovery", "FAIL")], "- the bug was caught\n"),
        (
            [(NO_BUG, "false_recovery", "PASS"), (NO_BUG, "truncate", "PASS")],
            "- the bug-free stack passed every cell\n",
        ),
        (
            [
                ("stream_commit", "truncate", "FAIL"),
                ("no_min_items", "garbage_empty", "FAIL"),
                (NO_BUG, "truncate", "PASS"),
                (NO_BUG, "garbage_empty", "PASS"),
            ],
            "- every bug was caught; the bug-free stack passed every cell\n",
        ),
    ],
)
def test_the_summary_speaks_only_of_the_cells_that_ran(
    ran: list[tuple[str, str, str]], conclusion: str
) -> None:
    results = [result(bug, variant, verdict, "backoff") for bug, variant, verdict in ran]

    markdown, _ = summarize(results, 60.0, "30s storms")

    assert markdown.endswith(f"storms in 60 s\n{conclusion}")
    legend = markdown[markdown.index("Rows:") : markdown.index("Columns:")]
    assert (f"`{NO_BUG}`" in legend) == any(bug == NO_BUG for bug, _, _ in ran)
    columns = markdown[markdown.index("Columns:") :].splitlines()[1:]
    named = [line.split("`")[1] for line in columns if line.startswith("- `")]
    assert named == list(dict.fromkeys(variant for _, variant, _ in ran))


def test_the_target_pressure_is_read_from_the_target_region(tmp_path: Path) -> None:
    verdict = {
        "target": "DE",
        "verdict": "PASS",
        "regions": {
            "DE": {"checks": [{"name": "upstream_pressure", "value": 0.52, "status": "pass"}]},
            "FR": {"checks": [{"name": "upstream_pressure", "value": 9.0, "status": "pass"}]},
        },
    }
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))

    assert read_result(NO_BUG, "flap_3_1", tmp_path, 0, 1.0).upstream_pressure == 0.52


def test_a_variant_that_needs_a_longer_window_lengthens_its_storms() -> None:
    lure = VARIANTS["false_recovery"]

    assert lure.duration("34s") == "45s"
    assert lure.duration("2m") == "2m"
    assert VARIANTS["truncate"].duration("34s") == "34s"


@pytest.mark.timeout(240)
def test_a_breaker_that_trusts_one_good_answer_is_caught(tmp_path: Path) -> None:
    done = run_matrix("--cells", "single_success_breaker:false_recovery", "--out", str(tmp_path))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (cell,) = json.loads((tmp_path / "matrix.json").read_text())["results"]
    assert (cell["verdict"], cell["properties"]) == ("FAIL", ["backoff"])
    assert cell["checks"] == ["DE false_recovery_failures"]


def test_false_alarm_draws_are_reproducible_and_valid() -> None:
    rng, same, other = random.Random(7), random.Random(7), random.Random(8)
    first = [matrix.draw_false_alarm(rng) for _ in range(5)]
    assert first == [matrix.draw_false_alarm(same) for _ in range(5)]
    assert first != [matrix.draw_false_alarm(other) for _ in range(5)]
    for _, variants, probability, _ in first:
        kinds = [VARIANTS[name].kind for name in variants]
        assert len(kinds) == len(set(kinds)) and 1 <= len(kinds) <= 4
        assert 0.6 <= probability <= 1.0


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert not done.stdout
    return lines[0]


def published_copy(tmp_path: Path) -> Path:
    """A --publish folder holding the table of an earlier run."""
    publish = tmp_path / "docs"
    publish.mkdir()
    (publish / "matrix.md").write_text("earlier table\n")
    return publish


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--duration", "abc"], "--duration abc: use Locust's time format"),
        (["--duration", "5s"], "--duration 5s: leaves no fault window"),
        (["--duration", "21s"], "use 22s or more"),
        (["--users", "3"], "--users 3: every region needs a user; use 8 or more"),
        (["--false-alarms", "0"], "--false-alarms 0: use a count of 1 or more"),
        (["--false-alarms", "-1"], "--false-alarms -1: use a count of 1 or more"),
    ],
    ids=["duration_text", "duration_short", "duration_just_short", "users", "zero", "negative"],
)
def test_storm_options_are_refused_before_any_storm(
    tmp_path: Path, options: list[str], expected: str
) -> None:
    out, publish = tmp_path / "out", published_copy(tmp_path)

    done = run_matrix(
        "--cells", "none:flap", "--out", str(out), "--publish", str(publish), *options,
        timeout_s=90,
    )  # fmt: skip

    assert expected in refusal(done)
    assert not out.exists()
    assert [p.name for p in publish.iterdir()] == ["matrix.md"]
    assert (publish / "matrix.md").read_text() == "earlier table\n"


@pytest.mark.parametrize("option", ["--out", "--publish"])
@pytest.mark.parametrize("where", ["file", "below_a_file", "unwritable"])
def test_a_folder_that_cannot_take_the_table_is_refused_before_any_storm(
    tmp_path: Path, option: str, where: str
) -> None:
    file = tmp_path / "table.md"
    file.write_text("not a folder\n")
    folder = {
        "file": str(file),
        "below_a_file": str(file / "matrix"),
        # procfs takes no new entries, whoever asks (root included).
        "unwritable": "/proc/blast-radius-matrix",
    }[where]
    others = {"--out": str(tmp_path / "out"), "--publish": str(tmp_path / "docs")}
    others[option] = folder

    done = run_matrix(
        "--cells", "none:flap", "--out", others["--out"], "--publish", others["--publish"],
        timeout_s=90,
    )  # fmt: skip

    line = refusal(done)
    assert line.startswith(f"storm.matrix: {option} {folder}: ")
    assert "give a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]


def test_a_storm_that_refuses_its_options_stops_the_matrix_with_its_reason(
    tmp_path: Path,
) -> None:
    out, publish = tmp_path / "out", published_copy(tmp_path)
    # A Locust host from the environment: every storm with a bug refuses it, exit 2.
    env = {**os.environ, "LOCUST_HOST": "http://127.0.0.1:9"}

    done = run_matrix(
        "--cells", "stream_commit:truncate,no_min_items:garbage_empty",
        "--out", str(out), "--publish", str(publish),
        timeout_s=90, env=env,
    )  # fmt: skip

    line = refusal(done)
    assert "stream_commit-truncate exited 2: blast-radius: --bugs" in line
    assert "drop --host" in line
    assert [p.name for p in (out / "runs").iterdir()] == ["stream_commit-truncate"]
    assert not (out / "matrix.md").exists() and not (out / "matrix.json").exists()
    assert (publish / "matrix.md").read_text() == "earlier table\n"


def start_matrix(out: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "storm.matrix", "--cells", "none:flap"]
    command += ["--duration", "30s", "--out", str(out)]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_descendants(pid: int, count: int, timeout_s: float) -> list[psutil.Process]:
    """The processes below `pid` once there are `count` of them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = psutil.Process(pid).children(recursive=True)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} processes below pid {pid} in {timeout_s} s")


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("signum", "code", "below"),
    [(signal.SIGTERM, 143, 4), (signal.SIGINT, 130, 1)],
    ids=["sigterm_with_the_stack_up", "sigint_as_locust_starts"],
)
def test_a_signal_stops_the_storm_and_its_stack_and_writes_no_table(
    tmp_path: Path, signum: int, code: int, below: int
) -> None:
    matrix_process = start_matrix(tmp_path)
    try:
        # Locust, then the upstream, the fault proxy and the discovery service.
        storm = wait_for_descendants(matrix_process.pid, below, timeout_s=60)
        matrix_process.send_signal(signum)
        _, err = matrix_process.communicate(timeout=90)
    finally:
        matrix_process.kill()

    assert matrix_process.returncode == code, err
    assert "Traceback" not in err
    assert (
        err.strip() == f"storm.matrix: stopped by {signal.Signals(signum).name}; no table written"
    )
    _, alive = psutil.wait_procs(storm, timeout=20)
    assert not alive, alive
    assert not processes_naming(tmp_path, timeout_s=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def processes_naming(folder: Path, timeout_s: float) -> list[str]:
    """Command lines that still name `folder` (the storm's services) once `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            " ".join(process.info["cmdline"] or [])
            for process in psutil.process_iter(["cmdline"])
            if str(folder) in " ".join(process.info["cmdline"] or [])
        ]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


@pytest.fixture
def obstinate_child() -> Iterator[subprocess.Popen[str]]:
    """A real child that ignores SIGTERM, started and ready."""
    child = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    yield child
    child.kill()
    child.wait()


def test_a_storm_that_ignores_sigterm_is_killed_after_the_grace(
    monkeypatch: pytest.MonkeyPatch, obstinate_child: subprocess.Popen[str]
) -> None:
    signals = matrix.Signals()
    signals.received.append(signal.SIGTERM)
    monkeypatch.setattr(matrix, "SIGNALS", signals)
    monkeypatch.setattr(matrix, "STOP_GRACE_S", 0.5)
    started = time.monotonic()

    code = matrix.wait_storm(obstinate_child, limit_s=60)

    assert code == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5


def test_a_second_signal_kills_the_storm_at_once(
    monkeypatch: pytest.MonkeyPatch, obstinate_child: subprocess.Popen[str]
) -> None:
    signals = matrix.Signals()
    signals.received += [signal.SIGINT, signal.SIGINT]
    monkeypatch.setattr(matrix, "SIGNALS", signals)
    started = time.monotonic()

    code = matrix.wait_storm(obstinate_child, limit_s=60)

    assert code == -signal.SIGKILL
    assert time.monotonic() - started < matrix.STOP_GRACE_S / 3
