"""Helpers for the fault proxy tests: real proxy processes, their ledgers and profiles."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, Service, run_module
from tests.faults.rawhttp import http_json


@dataclass
class Proxy:
    """A running `python -m faults` child with its stderr log and ledger."""

    service: Service
    log_path: Path
    ledger_path: Path

    @property
    def url(self) -> str:
        return self.service.url

    def put_profile(self, profile: Any) -> None:
        status, body = http_json(f"{self.url}/__faults/profile", "PUT", profile)
        assert status == 200, body

    def ledger_rows(self) -> list[dict[str, str]]:
        """The ledger's fault rows (profile changes left out: see profile_rows)."""
        return [row for row in self.all_rows() if row["kind"] != "profile"]

    def profile_rows(self) -> list[dict[str, str]]:
        return [row for row in self.all_rows() if row["kind"] == "profile"]

    def all_rows(self) -> list[dict[str, str]]:
        with self.ledger_path.open(newline="") as handle:
            return list(csv.DictReader(handle))

    def wait_for_row(self, marker: str, timeout_s: float = 5.0) -> dict[str, str]:
        """The ledger row whose path contains `marker`, waiting for it to be written."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rows = [row for row in self.ledger_rows() if marker in row["path"]]
            if rows:
                assert len(rows) == 1, rows
                return rows[0]
            time.sleep(0.05)
        raise AssertionError(f"no ledger row for {marker} within {timeout_s} s")

    def stop(self) -> None:
        self.service.stop()


def start_proxy(upstream_url: str, folder: Path, *options: str, timeout_s: float = 20.0) -> Proxy:
    """Start a proxy in front of `upstream_url`, logging to a file, with a ledger."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.monotonic_ns()
    ready = folder / f"proxy-ready-{stamp}.json"
    log_path = folder / f"proxy-{stamp}.log"
    ledger_path = folder / f"ledger-{stamp}.csv"
    command = [sys.executable, "-m", "faults", "--listen", "0", "--upstream", upstream_url]
    command += ["--ready-file", str(ready), "--ledger", str(ledger_path), *options]
    with log_path.open("wb") as log:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=log)
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"proxy did not start: {log_path.read_text()}")
        time.sleep(0.05)
    url = json.loads(ready.read_text())["url"]
    return Proxy(Service(proc, url), log_path, ledger_path)


def run_faults(*options: str, timeout_s: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m faults` to completion (for the exit-code tests)."""
    return run_module(["faults", *options], timeout_s)


def only(region: str, kind: str, **params: Any) -> dict[str, Any]:
    """A profile that always injects `kind` with `params` into `region`."""
    return {region: {"probability": 1.0, "types": [kind], "params": {kind: params}}}
