"""Clean-region throughput through the fault proxy, without and with a thousand held lies.

Starts the upstream simulator and the fault proxy in front of it as child processes on
free loopback ports, and installs a profile that answers every DE request with a
slowloris that never ends. Then it alternates two phases, side by side in one run:

- A: wrk loads the clean regions' catalogs through the proxy (keep-alive, fixed
  concurrency and duration) while nothing else touches it;
- B: a helper process first opens `--held` connections that each ask for DE's catalog
  and are held by the proxy one byte at a time, then the same wrk load runs again.

A round (A, then B) during which other work on the machine took a noticeable share of
the cores is marked disturbed and repeated, at most three times and within the time
budget. It prints both medians over the undisturbed rounds, the ratio B/A of the clean
regions' throughput (target >= 0.90) and the proxy's peak memory while the connections
are held (target < 150 MB), and exits 0 when both targets are met, 1 otherwise (a ratio
from disturbed rounds only is inconclusive, never met), 2 on bad input or a missing tool.

    .venv/bin/python bench/proxy_bench.py [--duration-s 10] [--connections 32]
        [--held 1000] [--rounds 3] [--py-spy FILE] [--json FILE]
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402
from benchlib import (  # noqa: E402
    WRK_INSTALL,
    BenchError,
    Load,
    OneLineParser,
    Result,
    Services,
    Target,
    UsageError,
    bounded_int,
    children_cpu_s,
    cpu_model,
    cpu_s,
    machine_cpu_s,
    open_fds,
    require_tool,
    rss_mb,
    services,
    stop_process,
    stop_requested,
)

from common import REGIONS  # noqa: E402

TARGET = "DE"
CLEAN_REGIONS = tuple(region for region in REGIONS if region != TARGET)
RATIO_TARGET = 0.90
MEMORY_TARGET_MB = 150.0
OPEN_BATCH = 100
OPEN_TIMEOUT_S = 10.0
HOLDER_TIMEOUT_S = 30.0
SETTLE_TIMEOUT_S = 15.0
SAMPLE_EVERY_S = 0.25
WARMUP_S = 2
BUDGET_S = 175
# A phase is disturbed when other work took more than this share of one core, or the
# hypervisor stole more than that: on two cores either moves the ratio by more than the
# 10 % the target allows. Unattributed kernel work (loopback softirq) stays under 5 %.
OTHERS_LIMIT = 0.20
STEAL_LIMIT = 0.05
MAX_EXTRA_ROUNDS = 3
PY_SPY_INSTALL = ".venv/bin/pip install py-spy"
HELD_FAULT_CODE = ("faults/wire.py", "faults/kinds/")


@dataclass(frozen=True)
class Options:
    """The validated command line."""

    duration_s: int
    connections: int
    threads: int
    held: int
    interval_ms: int
    rounds: int
    py_spy_path: Path | None
    json_path: Path | None


@dataclass(frozen=True)
class Held:
    """What the holder saw of its connections between the end of the opening and the drain."""

    count: int
    opened_s: float
    bytes_per_connection_per_s: float
    closed_by_proxy: int


@dataclass
class Phase:
    """One measured phase: the load, the proxy's peaks and each process's CPU share."""

    name: str
    load: Load
    rss_mb: float
    open_fds: int
    cpu_share: dict[str, float]
    held: Held | None = None

    @property
    def proxy_cpu_us_per_request(self) -> float:
        """Less sensitive to other work on the machine than the throughput itself."""
        return self.cpu_share["proxy"] * 1e6 / max(self.load.requests_per_s, 1.0)

    @property
    def disturbed(self) -> bool:
        return self.cpu_share["others"] > OTHERS_LIMIT or self.cpu_share["steal"] > STEAL_LIMIT


@dataclass(frozen=True)
class Round:
    """One A phase and the B phase right after it."""

    number: int
    a: Phase
    b: Phase

    @property
    def disturbed(self) -> bool:
        return self.a.disturbed or self.b.disturbed

    @property
    def ratio(self) -> float:
        return self.b.load.requests_per_s / self.a.load.requests_per_s


# --- the command line -------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    """Parse and check the options; raise UsageError naming the first bad one."""
    parser = OneLineParser(prog="bench/proxy_bench.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration-s", type=bounded_int(2, 15), default=10, help="per phase")
    parser.add_argument("--connections", type=bounded_int(1, 256), default=32, help="wrk's")
    parser.add_argument("--threads", type=bounded_int(1, 4), default=1, help="wrk's threads")
    parser.add_argument("--held", type=bounded_int(1, 4000), default=1000, help="DE sockets")
    parser.add_argument(
        "--interval-ms", type=bounded_int(100, 60_000), default=1000, help="slowloris pace"
    )
    parser.add_argument("--rounds", type=bounded_int(1, 3), default=3, help="A/B pairs")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="after the rounds, profile the proxy during one more B phase into FILE",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    if args.py_spy is not None and not args.py_spy.parent.is_dir():
        raise UsageError(f"--py-spy {args.py_spy}: folder {args.py_spy.parent} does not exist")
    return Options(
        duration_s=args.duration_s,
        connections=args.connections,
        threads=args.threads,
        held=args.held,
        interval_ms=args.interval_ms,
        rounds=args.rounds,
        py_spy_path=args.py_spy,
        json_path=args.json,
    )


# --- the processes under test -------------------------------------------------------------


@contextlib.contextmanager
def running_stack(interval_ms: int) -> Iterator[Services]:
    """Upstream and proxy, the proxy holding every DE request with a slowloris."""
    with services("proxy-bench-") as stack:
        try:
            stack.start_python("upstream", ["-m", "discovery", "upstream", "--generation-s", "60"])
            proxy_args = ["-m", "faults", "--upstream", stack.urls["upstream"], "--seed", "1"]
            stack.start_python("proxy", proxy_args)
            put_profile(stack.urls["proxy"], interval_ms)
            yield stack
        except BenchError:
            _show_logs(stack)
            raise


def proxy_port(stack: Services) -> int:
    return int(stack.urls["proxy"].rsplit(":", 1)[1])


def _show_logs(stack: Services) -> None:
    for log in sorted(stack.folder.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-5:]
        print(f"--- last lines of {log.name}:", *tail, sep="\n", file=sys.stderr)


def http_json(method: str, url: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def put_profile(proxy_url: str, interval_ms: int) -> None:
    """Every DE request gets a slowloris held until the client leaves."""
    params = {"slowloris": {"interval_ms": interval_ms}}
    profile = {TARGET: {"probability": 1.0, "types": ["slowloris"], "params": params}}
    http_json("PUT", f"{proxy_url}/__faults/profile", profile)


def slowloris_recorded(proxy_url: str) -> int:
    """Slowloris faults the proxy has finished and recorded (a held one counts when it ends)."""
    counters = http_json("GET", f"{proxy_url}/__faults/counters")
    if not isinstance(counters, dict):
        raise BenchError(f"/__faults/counters answered {counters!r}, not an object")
    return int(counters.get(TARGET, {}).get("slowloris", 0))


# --- /proc ------------------------------------------------------------------------------


class Peaks:
    """Peak RSS and open fds of one process, sampled in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss_mb = rss_mb(pid)
        self.open_fds = open_fds(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self.rss_mb = max(self.rss_mb, rss_mb(self.pid))
            self.open_fds = max(self.open_fds, open_fds(self.pid))


# --- the load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wrk:
    """wrk rotating through the clean regions, with the options every phase shares."""

    tool: benchlib.Wrk
    url: str
    options: Options

    @classmethod
    def for_stack(cls, path: str, stack: Services, options: Options) -> Wrk:
        paths = [f"/catalog?region={region}" for region in CLEAN_REGIONS]
        tool = benchlib.Wrk.with_paths(path, stack.folder, paths, "clean_regions")
        return cls(tool, stack.urls["proxy"], options)

    def run(self, duration_s: int) -> Load:
        """One run against the clean regions through the proxy."""
        return self.tool.run(self.url, self.options.connections, duration_s, self.options.threads)


def measured_load(stack: Services, wrk: Wrk) -> tuple[Load, Peaks, dict[str, float]]:
    """The wrk run, with the proxy's peaks and each process's CPU share during it."""
    pids = {name: stack.pid(name) for name in ("proxy", "upstream")}
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    wrk_before = children_cpu_s()
    bench_before = time.process_time()
    machine_before = machine_cpu_s()
    started = time.monotonic()
    with Peaks(pids["proxy"]) as peaks:
        load = wrk.run(wrk.options.duration_s)
    wall_s = time.monotonic() - started
    machine_after = machine_cpu_s()
    share = {name: (cpu_s(pid) - before[name]) / wall_s for name, pid in pids.items()}
    share["wrk"] = (children_cpu_s() - wrk_before) / wall_s
    share["bench"] = (time.process_time() - bench_before) / wall_s
    # What the rest of the machine and the hypervisor took: a phase that shared the
    # cores with other work shows it here rather than as a silent slowdown.
    busy = (machine_after[0] - machine_before[0]) / wall_s
    share["others"] = max(0.0, busy - sum(share.values()))
    share["steal"] = (machine_after[1] - machine_before[1]) / wall_s
    return load, peaks, share


# --- the held connections -----------------------------------------------------------------


def hold_connections(port: int, count: int, pipe: Connection) -> None:
    """Helper process: open `count` DE requests, then hold them until told to drain and close.

    Every reply on `pipe` is `(what, number, count)`. Nothing is read while the
    connections are held, so the helper costs no CPU beside the load generator: the
    trickled bytes wait in the kernel until the drain counts them.
    """
    # The bench stops this process itself; a Ctrl-C on the terminal is the bench's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _raise_open_files(count + 64)
        started = time.monotonic()
        sockets = _open_held(port, count)
        _drain(sockets)
        pipe.send(("held", time.monotonic() - started, count))
        holding_since = time.monotonic()
        if pipe.recv() == "drain":
            received, closed = _drain(sockets)
            pipe.send(("drained", received / count / (time.monotonic() - holding_since), closed))
            pipe.recv()
        for sock in sockets:
            sock.close()
        pipe.send(("closed", 0.0, 0))
    except (OSError, BenchError, EOFError) as exc:
        with contextlib.suppress(OSError):
            pipe.send((f"error: {type(exc).__name__}: {exc}", 0.0, 0))


def _raise_open_files(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def _open_held(port: int, count: int) -> list[socket.socket]:
    # In batches, so the proxy's listen backlog (128) never overflows into SYN retries.
    sockets: list[socket.socket] = []
    for first in range(0, count, OPEN_BATCH):
        batch = [_send_request(port, n) for n in range(first, min(first + OPEN_BATCH, count))]
        for sock in batch:
            _read_head(sock)
        sockets += batch
    return sockets


def _send_request(port: int, number: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=OPEN_TIMEOUT_S)
    path = f"/catalog?region={TARGET}&held={number}"
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    return sock


def _read_head(sock: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise BenchError("the proxy closed a DE connection before its headers")
        received += chunk
    status_line = received.partition(b"\r\n")[0]
    if not status_line.startswith(b"HTTP/1.1 200"):
        raise BenchError(f"a DE request got {status_line!r}, not 200")


def _drain(sockets: list[socket.socket]) -> tuple[int, int]:
    """Body bytes waiting on the sockets, and how many of them the proxy closed."""
    received = closed = 0
    for sock in sockets:
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while chunk := sock.recv(65536):
                received += len(chunk)
            closed += 1
    return received, closed


class Holder:
    """The helper process and its pipe, driven from the bench."""

    def __init__(self, port: int, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.count = count
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(target=hold_connections, args=(port, count, child_end))

    def __enter__(self) -> Holder:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # A helper still waiting for a command reads EOF here and closes its sockets.
        self.pipe.close()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)

    def wait_held(self) -> float:
        """Seconds the opening took, once every connection has its status line."""
        return self._reply(None, "held")[0]

    def drain(self) -> tuple[float, int]:
        """Bytes per connection per second since all were held; connections the proxy closed."""
        return self._reply("drain", "drained")

    def close(self) -> None:
        self._reply("close", "closed")

    def _reply(self, message: str | None, expected: str) -> tuple[float, int]:
        if message is not None:
            self.pipe.send(message)
        if not self.pipe.poll(HOLDER_TIMEOUT_S):
            raise BenchError(f"the holder did not answer within {HOLDER_TIMEOUT_S:.0f} s")
        try:
            what, number, count = self.pipe.recv()
        except EOFError:
            raise BenchError(f"the holder exited with {self.process.exitcode}") from None
        if what != expected:
            raise BenchError(f"holder: {what}")
        return float(number), int(count)


# --- the phases ---------------------------------------------------------------------------


def phase_a(stack: Services, wrk: Wrk) -> Phase:
    load, peaks, share = measured_load(stack, wrk)
    return Phase("A", load, peaks.rss_mb, peaks.open_fds, share)


def phase_b(stack: Services, wrk: Wrk, recorded: int) -> Phase:
    """Hold the DE connections, load the clean regions, release them and let the proxy settle."""
    held_count = wrk.options.held
    with Holder(proxy_port(stack), held_count) as holder:
        opened_s = holder.wait_held()
        load, peaks, share = measured_load(stack, wrk)
        per_s, closed = holder.drain()
        holder.close()
    held = Held(held_count, opened_s, per_s, closed)
    wait_settled(stack, recorded + held_count)
    return Phase("B", load, peaks.rss_mb, peaks.open_fds, share, held)


def wait_settled(stack: Services, expected: int) -> None:
    """Until the proxy has recorded every released slowloris, so the next A starts clean."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while slowloris_recorded(stack.urls["proxy"]) < expected:
        if time.monotonic() > deadline:
            raise BenchError(f"the proxy did not release {expected} held faults in time")
        time.sleep(0.1)


def profile_phase_b(stack: Services, wrk: Wrk, py_spy: str, path: Path) -> None:
    """One more B phase with py-spy sampling the proxy; prints where its time goes."""
    duration_s = wrk.options.duration_s
    with Holder(proxy_port(stack), wrk.options.held) as holder:
        holder.wait_held()
        command = [py_spy, "record", "-p", str(stack.pid("proxy")), "-d", str(duration_s)]
        command += ["-f", "raw", "-o", str(path), "--nonblocking"]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as spy:
            try:
                wrk.run(duration_s)
                _, errors = spy.communicate(timeout=30)
            finally:
                stop_process(spy)
        holder.close()
    if spy.returncode != 0 or not path.exists():
        raise BenchError(f"py-spy failed: {errors.decode(errors='replace').strip()}")
    print_profile(path)


def print_profile(path: Path, top: int = 10) -> None:
    """Where the proxy's samples go: the top functions by own time, and the held faults' share.

    py-spy's raw output is one collapsed stack per line, `frame;frame;... count`, each
    frame `function (file:line)`; lines are dropped so a function counts once.
    """
    own: Counter[str] = Counter()
    held = total = 0
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if not frames:
            continue
        own[re.sub(r":\d+\)$", ")", frames.rsplit(";", 1)[-1])] += int(count)
        held += int(count) if any(part in frames for part in HELD_FAULT_CODE) else 0
        total += int(count)
    print(f"py-spy: {total} samples of the proxy during one more B phase, in {path}")
    print(f"  {held / total:6.1%}  in the held faults' own code ({', '.join(HELD_FAULT_CODE)})")
    print("  top functions by own time:")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")


# --- the report ---------------------------------------------------------------------------


def describe_machine(wrk: str) -> str:
    version = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True, timeout=5)
    wrk_version = (version.stdout or version.stderr).split(" [")[0].strip()
    return (
        f"machine: {len(os.sched_getaffinity(0))} cores (nproc), {cpu_model()}, "
        f"Python {platform.python_version()}, {wrk_version}"
    )


def describe_setup(stack: Services, options: Options) -> str:
    return (
        f"proxy {stack.urls['proxy']} in front of upstream {stack.urls['upstream']}; "
        f"profile: {TARGET} slowloris, probability 1.0, interval_ms {options.interval_ms}\n"
        f"load: wrk, {options.threads} thread(s), {options.connections} keep-alive "
        f"connections, {options.duration_s} s per phase, GET /catalog?region= "
        f"{' '.join(CLEAN_REGIONS)} in turn"
    )


def describe_phase(round_number: int, phase: Phase) -> str:
    load = phase.load
    cpu = " ".join(f"{name} {share:.0%}" for name, share in phase.cpu_share.items())
    text = (
        f"round {round_number} {phase.name}: {load.requests_per_s:5.0f} req/s, "
        f"median {load.median_ms:4.1f} ms, errors {load.errors}, "
        f"proxy RSS {phase.rss_mb:5.1f} MB, fds {phase.open_fds:4d}, "
        f"proxy CPU {phase.proxy_cpu_us_per_request:3.0f} us/request; cpu {cpu}"
        + (" DISTURBED" if phase.disturbed else "")
    )
    if phase.held is not None:
        held = phase.held
        text += (
            f"\n           held {held.count} DE connections (opened in {held.opened_s:.1f} s, "
            f"{held.bytes_per_connection_per_s:.2f} B/s each while held, "
            f"{held.closed_by_proxy} closed by the proxy)"
        )
    return text


def summary_lines(rounds: list[Round], judged: list[Round], interval_ms: int) -> list[str]:
    """Each round's ratio, which rounds count, then the medians of both sides."""
    ratios = " ".join(f"{r.ratio:.2f}{'*' if r.disturbed else ''}" for r in rounds)
    lines = [f"B/A throughput of each round: {ratios} (* = disturbed by other work)"]
    if len(judged) < len(rounds):
        counted = " ".join(str(r.number) for r in judged)
        lines.append(f"medians over the undisturbed rounds: {counted}")
    elif any(r.disturbed for r in rounds):
        lines.append("every round was disturbed: the figures below say little; rerun when idle")
    a = [r.a for r in judged]
    b = [r.b for r in judged]
    held = judged[0].b.held.count if judged[0].b.held else 0
    for name, phases in (("A, none held", a), (f"B, {held} held", b)):
        lines.append(
            f"median {name}: {_median(phases, lambda p: p.load.requests_per_s):.0f} req/s, "
            f"latency {_median(phases, lambda p: p.load.median_ms):.1f} ms, "
            f"proxy CPU {_median(phases, lambda p: p.proxy_cpu_us_per_request):.0f} us/request"
        )
    pace = _median(b, lambda p: p.held.bytes_per_connection_per_s if p.held else 0.0)
    lines.append(
        f"trickle while held: {pace:.2f} B/s per connection (profile {1000 / interval_ms:.2f})"
    )
    return lines


def _median(phases: list[Phase], value: Callable[[Phase], float]) -> float:
    return statistics.median(value(phase) for phase in phases)


def target_lines(judged: list[Round]) -> tuple[list[str], bool]:
    """One PASS or MISS line per target, and whether both were met.

    A ratio measured only in disturbed rounds says more about the other work than about
    the proxy, so it never passes.
    """
    a = [r.a for r in judged]
    b = [r.b for r in judged]
    ratio = _median(b, lambda p: p.load.requests_per_s) / _median(
        a, lambda p: p.load.requests_per_s
    )
    peak_mb = max(p.rss_mb for p in b)
    trusted = any(not r.disturbed for r in judged)
    ratio_met = trusted and ratio >= RATIO_TARGET
    memory_met = peak_mb < MEMORY_TARGET_MB
    verdict = ("PASS" if ratio_met else "MISS") if trusted else "INCONCLUSIVE"
    lines = [
        f"{verdict} clean-region throughput B/A {ratio:.3f} "
        f"(median over median; target >= {RATIO_TARGET})",
        f"{'PASS' if memory_met else 'MISS'} proxy peak RSS while held {peak_mb:.1f} MB "
        f"(target < {MEMORY_TARGET_MB:.0f} MB)",
    ]
    return lines, ratio_met and memory_met


def write_result(options: Options, judged: list[Round], summary: list[str]) -> None:
    """The figures and targets as JSON for bench/report.py, when --json asks for them."""
    if options.json_path is None:
        return
    a = [r.a for r in judged]
    b = [r.b for r in judged]
    ratio = _median(b, lambda p: p.load.requests_per_s) / _median(
        a, lambda p: p.load.requests_per_s
    )
    peak_mb = max(p.rss_mb for p in b)
    trusted = any(not r.disturbed for r in judged)
    held = options.held
    command = "make bench (or: .venv/bin/python bench/proxy_bench.py)"
    cpu = {name: statistics.median(p.cpu_share[name] for p in b) for name in b[0].cpu_share}
    figures = [
        f"wrk, {options.threads} thread, {options.connections} connections, "
        f"{options.duration_s} s per phase; {held} DE slowloris connections held in B "
        f"(interval_ms {options.interval_ms})",
        *summary,
        "median CPU during B, in cores: " + " ".join(f"{n} {v:.2f}" for n, v in cpu.items()),
    ]
    result = Result("containment", command, figures)
    result.targets = [
        Target(
            f"clean-region throughput, {held} held / none held",
            ratio,
            f">= {RATIO_TARGET}",
            trusted and ratio >= RATIO_TARGET,
            inconclusive=not trusted,
        ),
        Target(
            "proxy peak RSS while held, MB",
            peak_mb,
            f"< {MEMORY_TARGET_MB:.0f} MB",
            peak_mb < MEMORY_TARGET_MB,
        ),
    ]
    result.write(options.json_path)


# --- main ---------------------------------------------------------------------------------


def _over_budget(signum: int, frame: FrameType | None) -> None:
    raise BenchError(f"the bench ran over its {BUDGET_S} s budget")


def measure_rounds(stack: Services, wrk: Wrk, deadline: float) -> list[Round]:
    """`rounds` undisturbed A/B rounds, repeating disturbed ones while time allows."""
    options = wrk.options
    rounds: list[Round] = []
    round_s = 2 * options.duration_s + 8
    while sum(not r.disturbed for r in rounds) < options.rounds:
        if len(rounds) >= options.rounds + MAX_EXTRA_ROUNDS:
            break
        if len(rounds) >= options.rounds and time.monotonic() + round_s > deadline:
            break
        a = phase_a(stack, wrk)
        print(describe_phase(len(rounds) + 1, a), flush=True)
        recorded = slowloris_recorded(stack.urls["proxy"])
        b = phase_b(stack, wrk, recorded)
        print(describe_phase(len(rounds) + 1, b), flush=True)
        rounds.append(Round(len(rounds) + 1, a, b))
    return rounds


def run(options: Options, wrk_path: str, deadline: float) -> int:
    print(describe_machine(wrk_path))
    with running_stack(options.interval_ms) as stack:
        wrk = Wrk.for_stack(wrk_path, stack, options)
        print(describe_setup(stack, options))
        wrk.run(WARMUP_S)
        rounds = measure_rounds(stack, wrk, deadline)
        judged = [r for r in rounds if not r.disturbed] or rounds
        lines, met = target_lines(judged)
        summary = summary_lines(rounds, judged, options.interval_ms)
        print(*summary, *lines, sep="\n")
        write_result(options, judged, summary)
        if options.py_spy_path is not None:
            py_spy = require_tool("py-spy", PY_SPY_INSTALL)
            profile_phase_b(stack, wrk, py_spy, options.py_spy_path)
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    try:
        options = parse_options(argv)
        wrk = require_tool("wrk", WRK_INSTALL)
        if options.py_spy_path is not None:
            require_tool("py-spy", PY_SPY_INSTALL)
        signal.signal(signal.SIGALRM, _over_budget)
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, stop_requested)
        signal.alarm(BUDGET_S)
        # Leave room for the py-spy phase and the shutdown within the budget.
        reserve_s = 15 + (options.duration_s + 5 if options.py_spy_path else 0)
        code = run(options, wrk, started + BUDGET_S - reserve_s)
    except UsageError as exc:
        print(f"proxy_bench: {exc}", file=sys.stderr)
        return 2
    except (BenchError, subprocess.TimeoutExpired) as exc:
        print(f"proxy_bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("proxy_bench: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    print(f"bench wall time {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
