"""What the benchmarks share: child services, wrk runs, CPU shares, alternating rounds.

Every benchmark measures both sides of its ratio in one run, in alternating rounds (A,
B, A, B, ...), and compares medians, so a machine that slows down midway slows both
sides alike. Each child process is started on a free loopback port, told the bench's
pid (it leaves on its own if the bench is killed) and stopped by its pid on the way out.

A benchmark's figures can also be written as JSON (`--json FILE`) for bench/report.py,
which assembles docs/performance.md from them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
WRK_INSTALL = "apt-get install -y wrk"

T = TypeVar("T")
N = TypeVar("N", int, float)

# wrk's script: `paths` in turn on every connection, and one parseable line at the end
# instead of wrk's human summary (latency in microseconds; errors include non-2xx/3xx).
WRK_LUA = """\
local paths = {PATHS}
local sent = 0
{DELAY}
request = function()
  sent = sent + 1
  return wrk.format("GET", paths[sent % #paths + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.duration, summary.requests,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


class BenchError(Exception):
    """The bench could not measure what it is about; the message says what failed."""


class UsageError(BenchError):
    """A bad option or a missing tool: one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see {self.prog} --help")


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number in low..high."""
    return _bounded(int, "whole number", "", low, high)


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number in low..high, shown in its shortest form (`:g`)."""
    return _bounded(float, "number", "g", low, high)


def _bounded(kind: Callable[[str], N], what: str, spec: str, low: N, high: N) -> Callable[[str], N]:
    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{value:{spec}} is out of range; pass {low:{spec}}..{high:{spec}}"
            )
        return value

    return parse


def require_tool(name: str, install: str) -> str:
    """The tool's path, or UsageError saying how to install it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(PYTHON).parent))
    if found is None:
        raise UsageError(f"{name} not found on PATH; install it with: {install}")
    return found


def free_port() -> int:
    """A port free right now on 127.0.0.1, for a child that cannot pick its own."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- child services ---------------------------------------------------------------------


@dataclass
class Services:
    """The child processes of one bench, stopped in reverse order by their pids."""

    folder: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    def pid(self, name: str) -> int:
        return self.children[name].pid

    def start_python(self, name: str, args: Sequence[str], user_input: bool = False) -> str:
        """Start `python args... --listen 0 --ready-file F --parent-pid P`; return its URL.

        `user_input`: `args` carry the bench's options, so a child that exits with 2 (it
        refused an option or input) is a UsageError naming the child's last log line."""
        ready = self.folder / f"{name}.ready.json"
        command = [PYTHON, *args, "--listen", "0", "--ready-file", str(ready)]
        command += ["--parent-pid", str(os.getpid())]
        self.spawn(name, command)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if ready.exists():
                url = str(json.loads(ready.read_text())["url"])
                self.urls[name] = url
                return url
            self._check_alive(name, user_input)
            time.sleep(0.05)
        raise BenchError(f"{name} was not ready within {READY_TIMEOUT_S:.0f} s")

    def spawn(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start `command` with its output in the bench folder, in a session of its own."""
        with (self.folder / f"{name}.log").open("wb") as log:
            # Own session: a Ctrl-C reaches the bench alone, which then stops the children.
            process = subprocess.Popen(
                list(command), cwd=ROOT, stdout=log, stderr=log, start_new_session=True
            )
        self.children[name] = process
        return process

    def wait_http(self, name: str, url: str, ready: Callable[[Any], bool] | None = None) -> None:
        """Poll `url` until it answers 200 (and `ready(json)` holds, when given)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(url, timeout=2) as reply:
                    body = reply.read()
                if ready is None or ready(json.loads(body)):
                    return
            time.sleep(0.1)
        raise BenchError(f"{name}: {url} was not ready within {READY_TIMEOUT_S:.0f} s")

    def _check_alive(self, name: str, user_input: bool = False) -> None:
        process = self.children[name]
        if process.poll() is None:
            return
        if user_input and process.returncode == 2:
            raise UsageError(f"{name} exited early: {self.tail(name, 1)}")
        raise BenchError(f"{name} exited early with {process.returncode}: {self.tail(name)}")

    def tail(self, name: str, count: int = 3) -> str:
        """The last `count` lines of the child's output, on one line."""
        path = self.folder / f"{name}.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return " | ".join(lines[-count:]) or "no output"

    def stop_all(self) -> None:
        for process in reversed(self.children.values()):
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def services(prefix: str) -> Iterator[Services]:
    """A temporary folder for logs and ready files; every child is stopped at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        running = Services(Path(name))
        try:
            yield running
        finally:
            running.stop_all()


# --- measuring --------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One wrk run: requests per second without errors, latency percentiles in ms."""

    requests_per_s: float
    median_ms: float
    p99_ms: float
    errors: int
    requests: int


@dataclass(frozen=True)
class Wrk:
    """wrk with a script that requests `paths` in turn."""

    path: str
    script: Path

    @classmethod
    def with_paths(
        cls, wrk: str, folder: Path, paths: Sequence[str], name: str, pause_ms: int = 0
    ) -> Wrk:
        """`pause_ms` > 0: each connection waits 0 to 2 * pause_ms (uniformly, pause_ms on
        average) after a response before its next request, so the load is a steady rate
        rather than as fast as the server goes. A fixed pause would keep the connections
        in step: they all start at once, so their requests would arrive in bursts."""
        script = folder / f"{name}.lua"
        quoted = ", ".join(f'"{path}"' for path in paths)
        delay = (
            f"\ndelay = function()\n  return math.random(0, {2 * pause_ms})\nend\n"
            if pause_ms > 0
            else ""
        )
        text = WRK_LUA.replace("{PATHS}", "{" + quoted + "}").replace("{DELAY}", delay)
        script.write_text(text)
        return cls(wrk, script)

    def run(self, url: str, connections: int, duration_s: float, threads: int = 1) -> Load:
        command = [self.path, "-t", str(threads), "-c", str(connections)]
        command += ["-d", f"{duration_s:g}s", "--timeout", "5s", "-s", str(self.script), url]
        done = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=duration_s + 30
        )
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                duration_us, requests, p50_us, p99_us, errors = (int(v) for v in line.split()[1:])
                return Load(
                    (requests - errors) / (duration_us / 1e6),
                    p50_us / 1000,
                    p99_us / 1000,
                    errors,
                    requests,
                )
        raise BenchError(f"wrk printed no result (exit {done.returncode}): {done.stderr.strip()}")


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds of `pid` (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> tuple[float, float]:
    """Busy and stolen CPU seconds of the whole machine since boot, every core summed."""
    first_line = Path("/proc/stat").read_text().partition("\n")[0]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, first_line.split()[1:9])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine since boot, every core summed, steal included."""
    return sum(machine_cpu_s())


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` in MB (10**6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def children_cpu_s() -> float:
    """CPU seconds of the bench's reaped children (wrk, locust)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Usage:
    """CPU shares over one block, in cores: each watched process, `load` (the bench's
    children that ended during it: wrk, locust) and `others` (the rest of the machine)."""

    cores: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0

    def text(self) -> str:
        return " ".join(f"{name} {share:.2f}" for name, share in self.cores.items())


@contextlib.contextmanager
def cpu_shares(pids: dict[str, int]) -> Iterator[Usage]:
    """Measure the CPU share of each of `pids`, and of the rest, while the block runs."""
    usage = Usage()
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    reaped, busy, started = children_cpu_s(), machine_busy_s(), time.monotonic()
    yield usage
    usage.wall_s = max(time.monotonic() - started, 1e-6)
    for name, pid in pids.items():
        usage.cores[name] = (cpu_s(pid) - before[name]) / usage.wall_s
    usage.cores["load"] = (children_cpu_s() - reaped) / usage.wall_s
    total = (machine_busy_s() - busy) / usage.wall_s
    usage.cores["others"] = max(0.0, total - sum(usage.cores.values()))


def alternate(
    sides: dict[str, Callable[[], T]], rounds: int, show: Callable[[int, str, T], None]
) -> dict[str, list[T]]:
    """Run every side once per round, the order rotating each round; each side's results."""
    results: dict[str, list[T]] = {name: [] for name in sides}
    names = list(sides)
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            result = sides[name]()
            results[name].append(result)
            show(number + 1, name, result)
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --- reporting --------------------------------------------------------------------------


@dataclass
class Target:
    """One target: the measured value, the bound and whether it is met."""

    name: str
    value: float
    bound: str
    met: bool
    # Measured only while other work took the machine: neither met nor missed.
    inconclusive: bool = False

    @property
    def verdict(self) -> str:
        if self.met:
            return "PASS"
        return "INCONCLUSIVE" if self.inconclusive else "MISS"

    def line(self) -> str:
        return f"{self.verdict} {self.name} {self.value:.3g} (target {self.bound})"


@dataclass
class Result:
    """What a bench hands to the report: its figures, targets and what limited them."""

    bench: str
    command: str
    figures: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    @property
    def met(self) -> bool:
        return all(target.met for target in self.targets)

    def write(self, path: Path | None) -> None:
        if path is not None:
            path.write_text(json.dumps(asdict(self), indent=1))


def at_least(name: str, value: float, bound: float) -> Target:
    return Target(name, value, f">= {bound:g}", value >= bound)


def below(name: str, value: float, bound: float, unit: str = "") -> Target:
    return Target(name, value, f"< {bound:g}{unit}", value < bound)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def describe_machine() -> str:
    """CPU model, cores (nproc), memory and Python, in one line."""
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return (
        f"{len(os.sched_getaffinity(0))} cores (nproc), {cpu_model()}, "
        f"{memory_kb / 1024 / 1024:.1f} GiB memory, Python {platform.python_version()}"
    )


# --- the main shell -------------------------------------------------------------------------


def stop_requested(signum: int, frame: FrameType | None) -> None:
    # SIGTERM unwinds like Ctrl-C, so every `finally` stops what it started.
    raise KeyboardInterrupt


def _over_budget(signum: int, frame: FrameType | None) -> None:
    raise BenchError("the bench ran over its time budget")


def run_main(
    name: str, body: Callable[[], Result | None], budget_s: int, json_path: Path | None
) -> int:
    """Run `body` within `budget_s`; exit codes 0 (targets met), 1 (missed or failed), 2."""
    started = time.monotonic()
    signal.signal(signal.SIGALRM, _over_budget)
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, stop_requested)
    signal.alarm(budget_s)
    try:
        result = body()
    except UsageError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    print(f"bench wall time {time.monotonic() - started:.0f} s")
    if result is None:
        return 1
    for target in result.targets:
        print(target.line())
    result.write(json_path)
    return 0 if result.met else 1
