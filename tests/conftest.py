"""Shared test helpers: free loopback ports and child processes that always end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """A `python -m PACKAGE ...` child started with --listen 0 and a ready file."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_service(args: list[str], tmp_path: Path, timeout_s: float = 20.0) -> Service:
    """Start `python -m args...` with a ready file and wait until it reports its URL."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}.json"
    cmd = [sys.executable, "-m", *args, "--listen", "0", "--ready-file", str(ready)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready.exists():
            return Service(proc, json.loads(ready.read_text())["url"])
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode} before it was ready")
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{args[0]} was not ready within {timeout_s} s")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    """Collects started services and stops every one of them at the end of the test."""
    started: list[Service] = []
    yield started
    for service in reversed(started):
        service.stop()


def run_module(args: list[str], timeout_s: float = 20.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m args...` from the project root to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def refusal_line(result: subprocess.CompletedProcess[str]) -> str:
    """Assert exit code 2 with one stderr line and no traceback; return that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]
