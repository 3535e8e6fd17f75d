"""Co-launch of the embedded stack: upstream simulator, fault proxy and discovery service.

Each service is a child process that binds a free loopback port itself and reports its
URL through a ready file, so no port is ever guessed. Every child is given our pid and
exits on its own when we are gone, so a storm killed with SIGKILL leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storm.errors import StormError

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
HTTP_TIMEOUT_S = 5.0


@dataclass
class Child:
    """One running service: its name, process and the URL it reported."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path


@dataclass
class Stack:
    """The services of one storm, stopped in reverse order of their start."""

    run_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, args: list[str], port: int = 0) -> Child:
        """Start `python -m args...` on `port` (0: a free one) and wait for its URL."""
        ready = self.run_dir / f".{name}.ready.json"
        ready.unlink(missing_ok=True)
        log_path = self.run_dir / f"{name}.log"
        cmd = [sys.executable, "-m", *args, "--listen", str(port), "--ready-file", str(ready)]
        cmd += ["--parent-pid", str(os.getpid())]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # A session of its own: Ctrl-C in the terminal reaches Locust alone, which then
        # takes the end snapshot before it stops the children in order.
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child = Child(name, proc, "", log_path)
        self.children.append(child)
        child.url = self._wait_ready(child, ready)
        log.info("%s ready at %s (pid %d)", name, child.url, proc.pid)
        return child

    def _wait_ready(self, child: Child, ready: Path) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready.exists():
                url: str = json.loads(ready.read_text())["url"]
                ready.unlink(missing_ok=True)
                return url
            if child.proc.poll() is not None:
                raise StormError(f"{child.name} failed to start: {last_line(child.log_path)}")
            time.sleep(0.05)
        raise StormError(f"{child.name} was not ready within {READY_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        """Stop every child we started, by pid: SIGTERM, then SIGKILL after a grace period."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in reversed(self.children):
            end(child)
        self.children.clear()

    def restart(self, name: str, args: list[str]) -> Child:
        """Stop the child called `name` and start it again with other arguments."""
        for child in [c for c in self.children if c.name == name]:
            child.proc.terminate()
            end(child)
            self.children.remove(child)
        return self.start(name, args)

    def alive(self) -> bool:
        return all(child.proc.poll() is None for child in self.children)


def end(child: Child) -> None:
    """Wait for a child told to stop; kill it if it ignores SIGTERM."""
    try:
        child.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("%s ignored SIGTERM; killing pid %d", child.name, child.proc.pid)
        child.proc.kill()
        child.proc.wait(timeout=STOP_TIMEOUT_S)


def last_line(path: Path) -> str:
    """The last non-empty line a child wrote: its one-line reason for exiting."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def get_json(url: str) -> Any:
    """GET `url` and parse its JSON body; connection trouble becomes a StormError."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as exc:
        raise StormError(f"GET {url} failed: {exc}") from exc


def put_json(url: str, body: object) -> Any:
    """PUT a JSON body; a 4xx answer becomes a StormError carrying the server's reason."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="PUT")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        reason = exc.read().decode(errors="replace").strip()
        raise StormError(f"PUT {url} refused: {reason}") from exc
    except (OSError, ValueError) as exc:
        raise StormError(f"PUT {url} failed: {exc}") from exc


def wait_until(probe: Any, what: str, timeout_s: float) -> None:
    """Poll `probe()` every 100 ms until it returns true, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except StormError:
            pass
        time.sleep(0.1)
    raise StormError(f"{what} did not happen within {timeout_s:.0f} s")


# How long an external API may take to accept a connection before the storm gives up.
PROBE_TIMEOUT_S = 3.0


def probe_host(url: str) -> None:
    """An external API that does not answer makes every request fail: that is a usage
    error to report now, not a verdict about the system."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StormError(f"--host {url}: use an http:// or https:// URL with a host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise StormError(f"--host {url}: nothing answers ({exc}); start the API first") from None
