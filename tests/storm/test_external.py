"""A storm against an API the suite did not start, as a user runs it on their own stack.

The test starts an upstream and a discovery API as if they were foreign: the API's
ingest points at a fixed proxy port that the storm opens with --upstream/--proxy-port,
and the storm reads the API's cache from its SQLite file with --cache-db.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import Service, free_port, start_service

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))
THRESHOLDS = ROOT / "tests" / "storm" / "short_storm_thresholds.json"
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
        assert {row["region"] for row in csv.DictReader(file)} == {"DE"}
    snapshots = json.loads((run_dir / "storm_snapshots.json").read_text())["snapshots"]
    assert [shot["label"] for shot in snapshots] == ["start", "fault_start", "fault_end", "end"]
    assert snapshots[1]["regions"]["JP"]["rows"] >= 50
    assert api.proc.poll() is None, "the storm must not stop a stack it did not start"
