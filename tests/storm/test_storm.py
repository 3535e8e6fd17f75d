"""Short real storms: Locust, the co-launched stack, the proxy's lies and the verdict."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from discovery.ingest.bugs import BUGS
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))


# Short storms on a small machine: a 95 % bound that a few hundred requests can decide.
THRESHOLDS = ROOT / "profiles" / "short_storm_thresholds.json"


def storm_cmd(run_dir: Path, *extra: str, duration: str = "24s") -> list[str]:
    return [
        LOCUST,
        "-f",
        str(ROOT / "locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        "8",
        "-r",
        "8",
        "-t",
        duration,
        "--csv",
        str(run_dir / "storm"),
        "--generation-s",
        "4",
        "--baseline",
        "4s",
        "--recovery",
        "10s",
        "--thresholds",
        str(THRESHOLDS),
        *extra,
    ]


def run_storm(
    run_dir: Path, *extra: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    run_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        storm_cmd(run_dir, *extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def storm_processes(run_dir: Path) -> list[int]:
    """Pids of every process whose command line mentions this storm's folder."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(run_dir) in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def wait_gone(run_dir: Path, timeout_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := storm_processes(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def ledger_regions(run_dir: Path) -> set[str]:
    with (run_dir / "storm_ledger.csv").open() as file:
        return {row["region"] for row in csv.DictReader(file) if row["kind"] != "profile"}


ALL_KINDS = str(ROOT / "profiles" / "all_kinds.json")


def test_hardened_stack_contains_every_kind_and_passes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_storm(run_dir, "--fault-target", "JP", "--fault-profile", ALL_KINDS)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "PASS"
    assert verdict["target"] == "JP"
    assert verdict["regions"]["JP"]["role"] == "target"
    assert ledger_regions(run_dir) == {"JP"}
    for name in ("verdict.md", "junit.xml", "blast_radius.png", "storm_stats.csv"):
        assert (run_dir / name).exists(), name
    assert "PASS" in done.stdout
    assert wait_gone(run_dir) == []


def test_naive_ingest_serves_partial_data_and_fails(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_storm(run_dir, "--ingest", "naive", "--fault-profile", ALL_KINDS)

    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["verdict"] == "FAIL"
    assert verdict["regions"]["DE"]["verdict"] == "FAIL"
    assert any("DE" in reason and "honesty" in reason for reason in verdict["reasons"])
    run = json.loads((run_dir / "storm_run.json").read_text())
    assert run["embedded"] is True and run["bugs"] == sorted(BUGS)
    assert (
        f"stack: the embedded discovery service, naive ingest, bugs on: {', '.join(sorted(BUGS))}"
        in (done.stdout + done.stderr)
    )
    assert wait_gone(run_dir) == []


def test_bad_profile_is_one_line_and_exit_2(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    profile = tmp_path / "bad.json"
    profile.write_text('{"DE": {"probability": 0.5, "types": ["truncate"]')
    done = run_storm(run_dir, "--fault-profile", str(profile))

    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "blast-radius" in line]
    assert len(lines) == 1 and "bad.json" in lines[0]
    assert "Traceback" not in done.stderr
    assert wait_gone(run_dir) == []


def test_unknown_fault_kind_is_refused_before_any_load(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    profile = tmp_path / "kinds.json"
    profile.write_text('{"DE": {"probability": 0.5, "types": ["gremlins"]}}')
    done = run_storm(run_dir, "--fault-profile", str(profile))

    assert done.returncode == 2
    assert "gremlins" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (run_dir / "storm_stats.csv").exists()
    assert wait_gone(run_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_storm_leaves_no_process(tmp_path: Path, signum: int) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cmd = storm_cmd(run_dir, duration="60s")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 40
        while len(storm_processes(run_dir)) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(storm_processes(run_dir)) >= 4, "the stack never came up"
        time.sleep(2)
        proc.send_signal(signum)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_gone(run_dir) == []


def test_killed_storm_leaves_no_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = subprocess.Popen(
        storm_cmd(run_dir, duration="60s"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while len(storm_processes(run_dir)) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(storm_processes(run_dir)) >= 4, "the stack never came up"
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_gone(run_dir, timeout_s=10) == []


def test_bad_input_keeps_the_previous_run_whole(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    earlier = {"storm_stats.csv": "Type,Name\n", "storm_ledger.csv": "time\n", "notes.txt": "x"}
    for name, text in earlier.items():
        (run_dir / name).write_text(text)
    done = run_storm(run_dir, "--fault-probability", "5")

    assert done.returncode == 2
    for name, text in earlier.items():
        assert (run_dir / name).read_text() == text


def test_unreachable_external_host_is_a_usage_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = run_storm(run_dir, "--host", f"http://127.0.0.1:{free_port()}")

    assert done.returncode == 2
    assert "nothing answers" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_child_that_fails_to_start_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = run_storm(run_dir, "--proxy-port", str(taken.getsockname()[1]))

    assert done.returncode == 2, done.stderr[-3000:]
    assert "faults failed to start" in done.stderr and "Traceback" not in done.stderr
    # The upstream simulator was up before the proxy failed: its port must be closed now.
    started = re.findall(r"ready at http://127\.0\.0\.1:(\d+) \(pid (\d+)\)", done.stderr)
    assert [name for name in ("upstream",) if f"{name} ready at" in done.stderr] == ["upstream"]
    assert wait_gone(run_dir) == []
    for port, pid in started:
        assert not Path(f"/proc/{pid}").exists()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", int(port))) != 0, f"port {port} still open"


def test_fewer_users_than_regions_is_a_usage_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cmd = storm_cmd(run_dir)
    cmd[cmd.index("-u") + 1] = "3"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert "at least one user per region" in done.stderr


def test_second_storm_into_the_same_files_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with (run_dir / ".storm.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = run_storm(run_dir)

    assert done.returncode == 2
    assert "another storm is writing" in done.stderr
    assert wait_gone(run_dir) == []


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (("--host", "http://127.0.0.1:{port}"), "nothing answers"),
        (("--generation-s", "nan"), "--generation-s nan"),
        (("--min-items", "10000000000000000000000"), "--min-items"),
    ],
)
def test_a_refused_storm_keeps_the_last_runs_files(
    tmp_path: Path, extra: tuple[str, str], named: str
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    kept = {
        "verdict.json": '{"verdict": "PASS"}',
        "storm_stats.csv": "Type,Name\n",
        "storm_ledger.csv": "time,region\n",
        "discovery.db": "not really a database",
    }
    for name, text in kept.items():
        (run_dir / name).write_text(text)
    option, value = extra

    done = run_storm(run_dir, option, value.format(port=free_port()))

    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert named in done.stderr and "Traceback" not in done.stderr
    for name, text in kept.items():
        assert (run_dir / name).read_text() == text, name
    assert wait_gone(run_dir) == []
