"""A master and two worker processes give one verdict, counting every worker's requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).with_name("locust"))
THRESHOLDS = ROOT / "profiles" / "short_storm_thresholds.json"


def test_master_and_two_workers_judge_every_region(tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    master = [LOCUST, "-f", str(ROOT / "locustfile.py"), "--master", "--headless"]
    master += ["--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
    master += ["--expect-workers", "2", "-u", "8", "-r", "8", "-t", "24s", "--only-summary"]
    master += ["--baseline", "4s", "--recovery", "10s", "--generation-s", "4"]
    master += ["--csv", str(run_dir / "storm"), "--thresholds", str(THRESHOLDS)]
    worker = [LOCUST, "-f", str(ROOT / "locustfile.py"), "--worker"]
    worker += ["--master-host", "127.0.0.1", "--master-port", str(port)]

    proc = subprocess.Popen(master, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    workers = [
        subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        output, _ = proc.communicate(timeout=120)
        for each in workers:
            each.wait(timeout=30)
    finally:
        for each in [proc, *workers]:
            if each.poll() is None:
                each.kill()
                each.wait()

    verdict = json.loads((run_dir / "verdict.json").read_text())
    assert proc.returncode == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}[verdict["verdict"]]
    # Eight users on two workers: each worker runs four of the eight region classes, so
    # requests in every region mean both workers' requests reached the master.
    for region, judged in verdict["regions"].items():
        requests = next(check for check in judged["checks"] if check["name"] == "requests")
        assert requests["status"] == "pass", (region, requests, output.decode()[-2000:])
    assert {"success_rate", "p95_ms", "cache"} <= {
        check["name"] for check in verdict["regions"]["US"]["checks"]
    }
