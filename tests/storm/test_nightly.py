"""The nightly storm: the target follows the date, and every run leaves a history line."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from pathlib import Path

from common import REGIONS
from storm.nightly import target_for

ROOT = Path(__file__).resolve().parents[2]


def test_same_date_same_target() -> None:
    day = dt.date(2026, 12, 3)
    assert target_for(day) == target_for(dt.date.fromisoformat("2026-12-03"))


def test_eight_nights_cover_every_region() -> None:
    first = dt.date(2026, 1, 1)
    nights = {target_for(first + dt.timedelta(days=n)) for n in range(len(REGIONS))}
    assert nights == set(REGIONS)


def test_bad_date_is_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "storm.nightly", "--date", "yesterday"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "storm.nightly: --date 'yesterday': use YYYY-MM-DD"


def test_nightly_run_appends_its_verdict_to_the_history(tmp_path: Path) -> None:
    out = tmp_path / "nightly"
    cmd = [sys.executable, "-m", "storm.nightly", "--date", "2026-12-03", "--out", str(out)]
    cmd += ["--duration", "24s", "--users", "8"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    target = target_for(dt.date(2026, 12, 3))
    assert f"target {target}" in done.stdout
    with (out / "history.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 1
    assert rows[0]["target"] == target and rows[0]["date"] == "2026-12-03"
    assert rows[0]["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert int(rows[0]["exit_code"]) == done.returncode
    assert (out / f"2026-12-03-{target}" / "verdict.json").exists()
