"""A killed `python -m analysis` never leaves half a verdict.json: the old one or the new one.

Each kill is a SIGKILL of the real child process: no handler runs and nothing is cleaned
up, so only the order of its writes decides what a reader finds afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT

MakeRun = Callable[..., Path]

OLD = b'{"verdict": "OLD"}\n'
STAGING_ATTEMPTS = 4
RANDOM_KILLS = 3
RUN_TIMEOUT_S = 60.0
SEED = 20_250_601


def start(prefix: Path) -> subprocess.Popen[bytes]:
    # Two runs on the same files write the same bytes, so "the new verdict" is exact.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "analysis", str(prefix)]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def complete_run(prefix: Path) -> tuple[bytes, float]:
    """Run the analysis to its end; return its verdict.json and how long it took."""
    started = time.monotonic()
    proc = start(prefix)
    assert proc.wait(timeout=RUN_TIMEOUT_S) == 0
    return (prefix.parent / "verdict.json").read_bytes(), time.monotonic() - started


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def remove_staged(folder: Path) -> None:
    for leftover in folder.glob(".*.tmp"):
        leftover.unlink()


def test_killed_while_staging_reports_keeps_the_old_verdict_whole(make_run: MakeRun) -> None:
    prefix = make_run()
    verdict = prefix.parent / "verdict.json"
    new, _ = complete_run(prefix)
    caught = 0

    for _ in range(STAGING_ATTEMPTS):
        verdict.write_bytes(OLD)
        proc = start(prefix)
        staged = prefix.parent / f".verdict.json.{proc.pid}.tmp"
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not staged.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0)
        kill(proc)

        if staged.exists():
            caught += 1
            assert verdict.read_bytes() == OLD
        else:
            assert verdict.read_bytes() in (OLD, new)
        remove_staged(prefix.parent)
        if caught:
            break

    assert caught, f"no kill landed while the reports were staged in {STAGING_ATTEMPTS} tries"


def test_killed_at_random_moments_leaves_the_old_or_the_new_verdict(make_run: MakeRun) -> None:
    prefix = make_run()
    verdict = prefix.parent / "verdict.json"
    new, took_s = complete_run(prefix)
    rng = random.Random(SEED)

    for _ in range(RANDOM_KILLS):
        verdict.write_bytes(OLD)
        proc = start(prefix)
        time.sleep(rng.uniform(0.5 * took_s, 1.1 * took_s))
        kill(proc)

        assert verdict.read_bytes() in (OLD, new)
        remove_staged(prefix.parent)
