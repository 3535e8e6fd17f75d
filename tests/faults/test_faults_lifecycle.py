"""The proxy process: ready file, port taken, parent gone, signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Service
from tests.faults.rawhttp import http_json
from tests.faults.support import Proxy, only, run_faults, start_proxy

EXIT_WAIT_S = 5.0


def test_ready_file_holds_the_url_and_the_seed(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    fresh_proxies.append(start_proxy(upstream.url, tmp_path, "--seed", "5"))

    ready = json.loads(next(tmp_path.glob("proxy-ready-*.json")).read_text())

    assert ready == {"url": fresh_proxies[0].url, "seed": 5}
    assert ready["url"].startswith("http://127.0.0.1:")
    assert http_json(f"{ready['url']}/__faults/health") == (200, {"ok": True})


def test_port_taken_exits_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        result = run_faults("--listen", port, "--upstream", "http://127.0.0.1:9")

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"--listen {port}" in result.stderr


def test_parent_pid_that_does_not_exist_exits_2() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "pass"])
    parent.wait()

    result = run_faults(
        "--listen", "0", "--upstream", "http://127.0.0.1:9", "--parent-pid", str(parent.pid)
    )

    assert result.returncode == 2
    assert "--parent-pid" in result.stderr


def test_parent_pid_of_an_unreaped_zombie_exits_2() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        parent.kill()
        os.waitid(os.P_PID, parent.pid, os.WEXITED | os.WNOWAIT)  # exited, still unreaped

        result = run_faults(
            "--listen", "0", "--upstream", "http://127.0.0.1:9", "--parent-pid", str(parent.pid)
        )
    finally:
        parent.wait()

    assert result.returncode == 2
    assert f"--parent-pid {parent.pid}: no such process" in result.stderr


def test_exits_cleanly_when_the_parent_is_gone(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proxy = start_proxy(upstream.url, tmp_path, "--parent-pid", str(parent.pid))
        fresh_proxies.append(proxy)
    finally:
        parent.kill()
        parent.wait()

    code = proxy.service.proc.wait(timeout=EXIT_WAIT_S)

    assert code == 0
    assert "parent process" in proxy.log_path.read_text()


def test_sigterm_shuts_down_cleanly_even_during_a_slowloris(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path)
    fresh_proxies.append(proxy)
    proxy.put_profile(only("DE", "slowloris", interval_ms=50))
    host, port = proxy.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"GET /catalog HTTP/1.1\r\nHost: x\r\nX-Region: DE\r\n\r\n")
        client.recv(4096)
        started = time.monotonic()
        os.kill(proxy.service.proc.pid, signal.SIGTERM)
        code = proxy.service.proc.wait(timeout=EXIT_WAIT_S)

    assert code == 0
    assert time.monotonic() - started < 3.0
    log = proxy.log_path.read_text()
    assert "shutting down: signal" in log
    assert "Traceback" not in log
    (row,) = proxy.ledger_rows()
    assert (row["kind"], row["end"], row["connection"]) == ("slowloris", "aborted", "closed")
    assert "faults at shutdown: DE slowloris=1; in flight 0" in log
