"""Soak: the fault proxy under a mixed fault profile and high concurrency, for ten minutes.

Starts the upstream simulator and the fault proxy in front of it (with `--profile`,
every kind by default) as child processes on free loopback ports. A short warm-up
loads every code path once; then the proxy is sampled idle (start), loaded for
`--duration-s`, and sampled again once the load has stopped and the proxy has settled
(end). Two loads run side by side:

- the clean regions: wrk with keep-alive connections rotating through them (or, without
  wrk, an aiohttp client loop in its own process);
- the regions the profile lies to: an aiohttp client loop in its own process whose
  requests give up after `--timeout-s`, so faults are drawn, abandoned mid-body and
  drawn again all the time (the clients that leave are where leaks would come from).

Every `--sample-every-s` it reads the proxy's open file descriptors (/proc/PID/fd), its
resident memory (VmRSS in /proc/PID/status) and its asyncio tasks and requests in
flight (GET /__faults/runtime), and at the end prints start, median, max and end of
each with a PASS or FAIL against its bound:

- open fds: end <= start + 16;
- RSS: end <= start + 48 MB, and no drift under steady load: the median of the last
  quarter of the load's samples <= the median of its second quarter + 16 MB;
- tasks: end <= start (back to the idle count), and requests in flight end at 0;
- the control API answers every sample within 10 s.

Exit code 0 when every bound holds, 1 when one is broken or a step failed, 2 for a bad
option.

    .venv/bin/python bench/soak.py [--duration-s 600] [--profile profiles/all_kinds.json]
        [--connections 128] [--threads 2] [--faulty-concurrency 64] [--timeout-s 2]
        [--sample-every-s 5] [--seed 1]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import (  # noqa: E402
    WRK_INSTALL,
    BenchError,
    OneLineParser,
    Services,
    UsageError,
    bounded_float,
    bounded_int,
    cpu_model,
    cpu_s,
    machine_cpu_s,
    open_fds,
    rss_mb,
    services,
    stop_requested,
)

from common import REGIONS  # noqa: E402

DEFAULT_PROFILE = ROOT / "profiles" / "all_kinds.json"
WARMUP_S = 5
CONTROL_TIMEOUT_S = 10.0
# The longest fault in profiles/all_kinds.json holds its connection 30 s (a hanging
# truncate); the proxy's pooled upstream connections close 15 to 30 s after their last
# use (aiohttp's keep-alive timeout, checked every 15 s).
SETTLE_S = 60.0
POOL_EXPIRY_S = 35.0
SETTLE_POLL_S = 1.0
FD_SLACK = 16
RSS_GROWTH_MB = 48.0
RSS_DRIFT_MB = 16.0
# The run's own length plus warm-up, settling and shutdown; an alarm stops it past that.
OVERHEAD_S = 240

WRK_LUA = """\
local regions = {REGIONS}
local sent = 0

request = function()
  sent = sent + 1
  return wrk.format("GET", "/catalog?region=" .. regions[sent % #regions + 1])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.duration, summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Options:
    """The validated command line."""

    duration_s: int
    profile: Path
    connections: int
    threads: int
    faulty_concurrency: int
    timeout_s: float
    sample_every_s: int
    seed: int


@dataclass(frozen=True)
class Sample:
    """The proxy at one moment; tasks and in_flight are None when the control API did not answer."""

    at_s: float
    fds: int
    rss_mb: float
    tasks: int | None
    in_flight: int | None


# --- the command line -------------------------------------------------------------------


def parse_options(argv: list[str] | None) -> Options:
    """Parse and check the options; raise UsageError naming the first bad one."""
    parser = OneLineParser(prog="bench/soak.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration-s", type=bounded_int(10, 86_400), default=600)
    parser.add_argument("--profile", type=Path, default=DEFAULT_PROFILE, help="fault profile")
    parser.add_argument("--connections", type=bounded_int(1, 1000), default=128)
    parser.add_argument("--threads", type=bounded_int(1, 4), default=2, help="wrk's")
    parser.add_argument("--faulty-concurrency", type=bounded_int(1, 500), default=64)
    parser.add_argument("--timeout-s", type=bounded_float(0.1, 60), default=2.0)
    parser.add_argument("--sample-every-s", type=bounded_int(1, 60), default=5)
    parser.add_argument("--seed", type=bounded_int(0, 2**31), default=1)
    args = parser.parse_args(argv)
    if args.sample_every_s * 4 > args.duration_s:
        raise UsageError(
            f"--sample-every-s {args.sample_every_s}: fewer than 4 samples in "
            f"--duration-s {args.duration_s}; sample more often or soak longer"
        )
    return Options(
        duration_s=args.duration_s,
        profile=args.profile,
        connections=args.connections,
        threads=args.threads,
        faulty_concurrency=args.faulty_concurrency,
        timeout_s=args.timeout_s,
        sample_every_s=args.sample_every_s,
        seed=args.seed,
    )


def faulty_regions(profile: Path) -> tuple[str, ...]:
    """The regions the profile lies to (its validation is the proxy's job)."""
    try:
        document = json.loads(profile.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"--profile {profile}: cannot read it as JSON ({exc})") from None
    named = tuple(region for region in REGIONS if isinstance(document, dict) and region in document)
    if not named or len(named) == len(REGIONS):
        raise UsageError(
            f"--profile {profile}: names {len(named)} regions; a soak needs at least one "
            "region under fault and one clean"
        )
    return named


# --- the processes under test -------------------------------------------------------------


@contextlib.contextmanager
def running_stack(options: Options) -> Iterator[Services]:
    """Upstream and proxy with the soak's profile, stopped whatever happens.

    A child that exits with 2 refused the soak's options (the profile, most likely): a
    UsageError naming its last log line."""
    with services("soak-") as stack:
        upstream_args = ["-m", "discovery", "upstream", "--seed", str(options.seed)]
        stack.start_python("upstream", upstream_args, user_input=True)
        proxy_args = ["-m", "faults", "--upstream", stack.urls["upstream"]]
        proxy_args += ["--profile", str(options.profile.resolve()), "--seed", str(options.seed)]
        proxy_args += ["--ledger", str(stack.folder / "ledger.csv")]
        stack.start_python("proxy", proxy_args, user_input=True)
        yield stack


def control(stack: Services, name: str) -> dict[str, object]:
    """GET /__faults/NAME as a JSON object."""
    url = f"{stack.urls['proxy']}/__faults/{name}"
    with urllib.request.urlopen(url, timeout=CONTROL_TIMEOUT_S) as reply:
        document = json.loads(reply.read())
    if not isinstance(document, dict):
        raise BenchError(f"/__faults/{name} answered {document!r}, not an object")
    return document


# --- /proc and sampling -------------------------------------------------------------------


def sample(stack: Services, started: float) -> Sample:
    pid = stack.pid("proxy")
    fds = open_fds(pid)
    memory = rss_mb(pid)
    tasks: int | None = None
    in_flight: int | None = None
    with contextlib.suppress(OSError, ValueError, KeyError):
        runtime = control(stack, "runtime")
        tasks, in_flight = int(str(runtime["tasks"])), int(str(runtime["in_flight"]))
    return Sample(time.monotonic() - started, fds, memory, tasks, in_flight)


def settled(stack: Services, start: Sample, started: float) -> tuple[Sample, float]:
    """The first sample back at idle (or the last one after SETTLE_S) and the wait it took."""
    began = time.monotonic()
    while True:
        now = sample(stack, started)
        idle = (
            now.in_flight == 0
            and now.tasks is not None
            and start.tasks is not None
            and now.tasks <= start.tasks
            and now.fds <= start.fds + FD_SLACK
        )
        waited = time.monotonic() - began
        if idle or waited >= SETTLE_S:
            return now, waited
        time.sleep(SETTLE_POLL_S)


# --- the loads ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    """What a client_load helper does: `concurrency` clients read `regions` in turn."""

    url: str
    regions: tuple[str, ...]
    concurrency: int
    duration_s: float
    timeout_s: float


def client_load(spec: ClientSpec, pipe: Connection) -> None:
    """Helper process: run the clients of `spec`, then send back a count of outcomes.

    An outcome is `http STATUS`, `timeout`, `cut body`, `disconnected`, or the name of
    the client error.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipe.send(dict(asyncio.run(_client_load(spec))))


async def _client_load(spec: ClientSpec) -> Counter[str]:
    import aiohttp  # noqa: PLC0415 - only the helper processes need it

    outcomes: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + spec.duration_s

    async def one(session: aiohttp.ClientSession, region: str) -> str:
        try:
            target = f"{spec.url}/catalog?region={region}"
            async with session.get(target, headers={"X-Region": region}) as response:
                await response.read()
                return f"http {response.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientPayloadError:
            return "cut body"
        except aiohttp.ServerDisconnectedError:
            return "disconnected"
        except aiohttp.ClientError as exc:
            return type(exc).__name__

    async def client(session: aiohttp.ClientSession, number: int) -> None:
        while loop.time() < ends_at:
            outcomes[await one(session, spec.regions[number % len(spec.regions)])] += 1
            number += 1

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=spec.concurrency),
        timeout=aiohttp.ClientTimeout(total=spec.timeout_s),
        auto_decompress=False,
    ) as session:
        await asyncio.gather(*(client(session, number) for number in range(spec.concurrency)))
    return outcomes


class ClientLoad:
    """A client_load helper process and the pipe its outcomes come back on."""

    def __init__(self, spec: ClientSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self.spec = spec
        self.pipe, child_end = context.Pipe()
        self.process = context.Process(target=client_load, args=(spec, child_end), daemon=True)
        self.process.start()

    def result(self) -> Counter[str]:
        if not self.pipe.poll(self.spec.duration_s + self.spec.timeout_s + 30):
            raise BenchError(f"the client load on {' '.join(self.spec.regions)} did not finish")
        outcomes: dict[str, int] = self.pipe.recv()
        self.process.join(timeout=10)
        return Counter(outcomes)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    errors: int
    non_2xx: int
    duration_s: float
    p99_ms: float


class WrkLoad:
    """wrk on the clean regions for the whole soak."""

    def __init__(self, wrk: str, stack: Services, regions: tuple[str, ...], options: Options,
                 duration_s: int) -> None:  # fmt: skip
        script = stack.folder / "clean_regions.lua"
        script.write_text(
            WRK_LUA.replace("{REGIONS}", "{" + ", ".join(f'"{r}"' for r in regions) + "}")
        )
        command = [wrk, "-t", str(options.threads), "-c", str(options.connections)]
        command += ["-d", f"{duration_s}s", "--timeout", "5s", "-s", str(script)]
        self.duration_s = duration_s
        self.process = subprocess.Popen(
            [*command, stack.urls["proxy"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def result(self) -> WrkResult:
        out, err = self.process.communicate(timeout=self.duration_s + 60)
        for line in out.splitlines():
            if line.startswith("RESULT "):
                duration_us, requests, errors, non_2xx, p99_us = (int(v) for v in line.split()[1:])
                return WrkResult(requests, errors, non_2xx, duration_us / 1e6, p99_us / 1000)
        raise BenchError(f"wrk printed no result (exit {self.process.returncode}): {err.strip()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass
class Loads:
    """The two loads of one soak period, started together."""

    clean: WrkLoad | ClientLoad
    faulty: ClientLoad

    @classmethod
    def start(
        cls, stack: Services, wrk: str | None, faulty: tuple[str, ...], options: Options,
        duration_s: int,
    ) -> Loads:  # fmt: skip
        url = stack.urls["proxy"]
        clean = tuple(region for region in REGIONS if region not in faulty)
        clean_load: WrkLoad | ClientLoad
        if wrk is not None:
            clean_load = WrkLoad(wrk, stack, clean, options, duration_s)
        else:
            clean_load = ClientLoad(ClientSpec(url, clean, options.connections, duration_s, 5.0))
        spec = ClientSpec(url, faulty, options.faulty_concurrency, duration_s, options.timeout_s)
        return cls(clean_load, ClientLoad(spec))

    def results(self) -> tuple[WrkResult | Counter[str], Counter[str]]:
        try:
            return self.clean.result(), self.faulty.result()
        finally:
            self.stop()

    def stop(self) -> None:
        self.clean.stop()
        self.faulty.stop()


# --- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """One judged figure: its start, median and max under load, end, and the bound."""

    name: str
    start: float
    during: list[float]
    end: float
    bound: str
    holds: bool

    def line(self) -> str:
        median = statistics.median(self.during) if self.during else float("nan")
        peak = max(self.during) if self.during else float("nan")
        figures = f"{self.start:8.1f} {median:8.1f} {peak:8.1f} {self.end:8.1f}"
        return f"{self.name:<14}{figures}   {self.bound:<44}{'PASS' if self.holds else 'FAIL'}"


def quarter_median(values: list[float], quarter: int) -> float:
    """Median of the `quarter`-th quarter (1..4) of `values`, in order."""
    size = len(values)
    part = values[(quarter - 1) * size // 4 : quarter * size // 4] or values[-1:]
    return statistics.median(part)


def judge(start: Sample, samples: list[Sample], end: Sample) -> list[Bound]:
    """Every bound of the soak, judged from the idle samples and those under load."""
    rss = [s.rss_mb for s in samples]
    # Rounded, so that a flat line prints 0.0 rather than -0.0.
    drift = round(quarter_median(rss, 4) - quarter_median(rss, 2), 1) + 0.0
    tasks = [float(s.tasks) for s in samples if s.tasks is not None]
    in_flight = [float(s.in_flight) for s in samples if s.in_flight is not None]
    answered = len(tasks)
    end_tasks = float("nan") if end.tasks is None else float(end.tasks)
    end_in_flight = float("nan") if end.in_flight is None else float(end.in_flight)
    return [
        Bound(
            "open fds", start.fds, [float(s.fds) for s in samples], end.fds,
            f"end <= start + {FD_SLACK}", end.fds <= start.fds + FD_SLACK,
        ),
        Bound(
            "RSS MB", start.rss_mb, rss, end.rss_mb,
            f"end <= start + {RSS_GROWTH_MB:g}", end.rss_mb <= start.rss_mb + RSS_GROWTH_MB,
        ),
        Bound(
            "RSS drift MB", 0.0, [drift], drift,
            f"median 4th quarter - 2nd <= {RSS_DRIFT_MB:g}", drift <= RSS_DRIFT_MB,
        ),
        Bound(
            "asyncio tasks", float(start.tasks or 0), tasks, end_tasks,
            "end <= start (back to idle)",
            end.tasks is not None and start.tasks is not None and end.tasks <= start.tasks,
        ),
        Bound(
            "in flight", float(start.in_flight or 0), in_flight, end_in_flight,
            "end == 0", end.in_flight == 0,
        ),
        Bound(
            "control API", float(len(samples)), [float(answered)], float(answered),
            f"every sample answered within {CONTROL_TIMEOUT_S:g} s", answered == len(samples),
        ),
    ]  # fmt: skip


def describe_machine(wrk: str | None) -> str:
    tool = "no wrk (aiohttp clients)"
    if wrk is not None:
        version = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True)
        tool = (version.stdout or version.stderr).split(" [")[0].strip()
    return (
        f"machine: {len(os.sched_getaffinity(0))} cores, {cpu_model()}, "
        f"Python {platform.python_version()}, {tool}"
    )


def describe_load(
    clean: WrkResult | Counter[str], faulty: Counter[str], regions: tuple[str, ...]
) -> list[str]:
    if isinstance(clean, WrkResult):
        clean_line = (
            f"clean regions (wrk): {clean.requests} requests, "
            f"{clean.requests / clean.duration_s:.0f}/s, socket errors {clean.errors}, "
            f"non-2xx {clean.non_2xx}, p99 {clean.p99_ms:.0f} ms"
        )
    else:
        clean_line = f"clean regions (aiohttp): {_outcomes(clean)}"
    return [clean_line, f"{' '.join(regions)} (aiohttp): {_outcomes(faulty)}"]


def _outcomes(counts: Counter[str]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{name} {count}" for name, count in counts.most_common())
    return f"{total} requests: {parts}"


def describe_faults(counters: dict[str, object]) -> str:
    kinds: Counter[str] = Counter()
    for per_kind in counters.values():
        if isinstance(per_kind, dict):
            kinds.update({str(kind): int(count) for kind, count in per_kind.items()})
    listed = ", ".join(f"{kind} {count}" for kind, count in kinds.most_common())
    return f"faults injected: {sum(kinds.values())} ({listed})"


def print_sample(label: str, one: Sample) -> None:
    print(
        f"{label:>7} {one.at_s:7.0f} s  fds {one.fds:5d}  RSS {one.rss_mb:6.1f} MB  "
        f"tasks {one.tasks if one.tasks is not None else '-':>5}  "
        f"in flight {one.in_flight if one.in_flight is not None else '-':>4}",
        flush=True,
    )


# --- main ---------------------------------------------------------------------------------


def idle_start(stack: Services, started: float) -> Sample:
    """The proxy idle after the warm-up: nothing in flight, the upstream pool expired."""
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        now = sample(stack, started)
        if now.in_flight == 0:
            break
        time.sleep(SETTLE_POLL_S)
    # Start and end both count no pooled upstream connection.
    time.sleep(POOL_EXPIRY_S)
    return sample(stack, started)


def soak(stack: Services, options: Options, wrk: str | None, faulty: tuple[str, ...]) -> bool:
    """Warm up, sample idle, load and sample, settle and sample; print and judge."""
    started = time.monotonic()
    Loads.start(stack, wrk, faulty, options, WARMUP_S).results()
    start = idle_start(stack, started)
    print_sample("start", start)

    loads = Loads.start(stack, wrk, faulty, options, options.duration_s)
    pids = {name: child.pid for name, child in stack.children.items()}
    cpu_before, load_began = {name: cpu_s(pid) for name, pid in pids.items()}, time.monotonic()
    machine_before = machine_cpu_s()
    samples: list[Sample] = []
    try:
        # The first sample one interval in, once the load has ramped up.
        while time.monotonic() - load_began < options.duration_s:
            next_at = load_began + (len(samples) + 1) * options.sample_every_s
            time.sleep(max(0.0, min(next_at, load_began + options.duration_s) - time.monotonic()))
            samples.append(sample(stack, started))
            print_sample("load", samples[-1])
        elapsed_s = time.monotonic() - load_began
        cpu = {name: (cpu_s(pid) - cpu_before[name]) / elapsed_s for name, pid in pids.items()}
        machine = [
            (after - before) / elapsed_s
            for after, before in zip(machine_cpu_s(), machine_before, strict=True)
        ]
        clean, faulted = loads.results()
    finally:
        loads.stop()

    end, waited = settled(stack, start, started)
    print_sample("end", end)
    print(*describe_load(clean, faulted, faulty), sep="\n")
    ledger_rows = len((stack.folder / "ledger.csv").read_bytes().splitlines()) - 1
    print(f"{describe_faults(control(stack, 'counters'))}; ledger rows {ledger_rows}")
    # Everything else that ran (the loads, other work) shows in the machine's busy cores.
    print(
        f"CPU under load, in cores: proxy {cpu['proxy']:.2f}, upstream {cpu['upstream']:.2f}, "
        f"whole machine {machine[0]:.2f} of {len(os.sched_getaffinity(0))}, "
        f"stolen {machine[1]:.2f}; settled {waited:.0f} s after the load"
    )
    bounds = judge(start, samples, end)
    print(f"{'':<14}{'start':>8} {'median':>8} {'max':>8} {'end':>8}   bound")
    print(*(bound.line() for bound in bounds), sep="\n")
    return all(bound.holds for bound in bounds)


def _over_budget(signum: int, frame: FrameType | None) -> None:
    raise BenchError("the soak ran over its time budget")


def main(argv: list[str] | None = None) -> int:
    began = time.monotonic()
    try:
        options = parse_options(argv)
        faulty = faulty_regions(options.profile)
        wrk = shutil.which("wrk")
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, stop_requested)
        signal.signal(signal.SIGALRM, _over_budget)
        signal.alarm(options.duration_s + OVERHEAD_S)
        print(describe_machine(wrk))
        with running_stack(options) as stack:
            clean = " ".join(region for region in REGIONS if region not in faulty)
            print(
                f"soak {options.duration_s} s: proxy {stack.urls['proxy']} (profile "
                f"{options.profile}, seed {options.seed}) in front of {stack.urls['upstream']}\n"
                f"load: {clean} via {'wrk' if wrk else 'aiohttp'} with {options.connections} "
                f"connections; {' '.join(faulty)} via aiohttp with {options.faulty_concurrency} "
                f"clients giving up after {options.timeout_s:g} s; a sample every "
                f"{options.sample_every_s} s"
                + ("" if wrk else f" (for more load install wrk: {WRK_INSTALL})")
            )
            held = soak(stack, options, wrk, faulty)
    except UsageError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    except (BenchError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("soak: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    print(f"verdict: {'PASS' if held else 'FAIL'} (wall time {time.monotonic() - began:.0f} s)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
