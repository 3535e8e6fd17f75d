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

import pytest

from tests.conftest import ROOT

MakeRun = Callable[..., Path]

OLD = b'{"verdict": "OLD"}\n'
RANDOM_KILLS = 3
REPORTS = 4  # verdict.json, verdict.md, junit.xml, blast_radius.png
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


# The child kills itself with SIGKILL from an audit hook at the moment `os.replace` (it
# audits as os.rename) is about to put its Nth staged report in place: every report is
# staged then, and N-1 of them are in place.
KILL_AT_RENAME = """
import os, runpy, signal, sys
from pathlib import Path
folder, kill_at = Path(sys.argv[1]).parent, int(sys.argv[2])
renames = 0
def hook(event, args):
    global renames
    if event == "os.rename" and Path(os.fsdecode(args[0])).parent == folder:
        renames += 1
        if renames == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
sys.argv = ["analysis", sys.argv[1]]
runpy.run_module("analysis", run_name="__main__")
"""


@pytest.mark.parametrize("kill_at", [1, 2, REPORTS])
def test_killed_while_staging_reports_keeps_the_old_verdict_whole(
    make_run: MakeRun, kill_at: int
) -> None:
    prefix = make_run()
    verdict = prefix.parent / "verdict.json"
    new, _ = complete_run(prefix)
    verdict.write_bytes(OLD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", KILL_AT_RENAME, str(prefix), str(kill_at)]
    done = subprocess.run(
        cmd, check=False, cwd=ROOT, env=env, capture_output=True, timeout=RUN_TIMEOUT_S
    )

    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    staged = sorted(path.name for path in prefix.parent.glob(".*.tmp"))
    assert len(staged) == REPORTS - (kill_at - 1), staged
    still_staged = any(name.startswith(".verdict.json.") for name in staged)
    assert verdict.read_bytes() == (OLD if still_staged else new)
    remove_staged(prefix.parent)


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
