"""A storm against an API the suite did not start, as a user runs it on their own stack.

The test starts an upstream and a discovery API as if they were foreign: the API's
ingest points at a fixed proxy port that the storm opens with --upstream/--proxy-port,
and the storm reads the API's cache from its SQLite file with --cache-db.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from storm.errors import StormError
from storm.external import DEFAULT_QUERY, read_cache
from tests.conftest import Service, free_port, start_service

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))
THRESHOLDS = ROOT / "profiles" / "short_storm_thresholds.json"
QUERY = "SELECT region, count(*), group_concat(id) FROM items GROUP BY region"


def test_storm_on_an_external_stack_gets_a_verdict(tmp_path: Path, services: list[Service]) -> None:
    upstream = start_service(["discovery", "upstream", "--generation-s", "600"], tmp_path)
    services.append(upstream)
    proxy_port = free_port()
    db = tmp_path / "their-cache.db"
    api = start_service(
        ["discovery", "serve", "--upstream", f"http://127.0.0.1:{proxy_port}", "--db", str(db)],
        tmp_path,
    )
    services.append(api)
    run_dir = tmp_path / "run"
    run_dir.mkdir()

    cmd = [LOCUST, "-f", str(ROOT / "locustfile.py"), "--headless", "--only-summary"]
    cmd += ["-u", "8", "-r", "8", "-t", "24s", "--baseline", "6s", "--recovery", "8s"]
    cmd += ["--csv", str(run_dir / "storm"), "--thresholds", str(THRESHOLDS)]
    cmd += ["--host", api.url, "--upstream", upstream.url, "--proxy-port", str(proxy_port)]
    cmd += ["--cache-db", str(db), "--cache-query", QUERY, "--fault-probability", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)

    assert "Traceback" not in done.stderr
    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert verdict["target"] == "DE"
    assert verdict["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE")
    assert done.returncode == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[verdict["verdict"]]
    with (run_dir / "storm_ledger.csv").open() as file:
        faults = [row for row in csv.DictReader(file) if row["kind"] != "profile"]
        assert {row["region"] for row in faults} == {"DE"}
    snapshots = json.loads((run_dir / "storm_snapshots.json").read_text())["snapshots"]
    assert [shot["label"] for shot in snapshots] == ["start", "fault_start", "fault_end", "end"]
    assert snapshots[1]["regions"]["JP"]["rows"] >= 50
    assert api.proc.poll() is None, "the storm must not stop a stack it did not start"


def make_cache(path: Path, rows: list[tuple[str, str]]) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS videos (id TEXT, region TEXT)")
        conn.executemany("INSERT INTO videos VALUES (?, ?)", rows)
    conn.close()


def test_cache_snapshot_changes_with_the_count(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    make_cache(db, [("a", "DE"), ("b", "JP")])
    before = read_cache(str(db), DEFAULT_QUERY)
    make_cache(db, [("c", "JP")])
    after = read_cache(str(db), DEFAULT_QUERY)

    assert before["JP"]["rows"] == 1 and after["JP"]["rows"] == 2
    assert before["JP"]["digest"] != after["JP"]["digest"]
    assert before["DE"] == after["DE"]


def test_cache_snapshot_never_writes_the_file(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    make_cache(db, [("a", "DE")])
    with pytest.raises(StormError, match="readonly"):
        read_cache(str(db), "DELETE FROM videos")
    assert read_cache(str(db), DEFAULT_QUERY)["DE"]["rows"] == 1


def test_cache_query_error_is_one_line(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    make_cache(db, [("a", "DE")])
    with pytest.raises(StormError) as caught:
        read_cache(str(db), "SELECT region FROM nowhere")
    assert "no such table: nowhere" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_cache_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(StormError, match="no such file"):
        read_cache(str(tmp_path / "absent.db"), DEFAULT_QUERY)
