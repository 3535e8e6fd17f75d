"""Pass-through: the fault proxy with no fault next to nginx and a naive aiohttp proxy.

Starts the upstream simulator, then three proxies in front of it on free loopback ports:

- the fault proxy (`python -m faults`, no profile: every request is forwarded);
- nginx, one worker, `proxy_pass` to the same upstream over kept-alive connections
  (Debian's package; the config is generated into a temporary folder);
- a naive aiohttp proxy, written here, that opens a new ClientSession (and so a new
  upstream connection) for every request.

wrk then loads each of them and the upstream directly, in alternating rounds, with
`GET /catalog?region=XX` for the eight regions in turn, over 32 keep-alive connections:

- as fast as they answer, for the throughput. The median latency of such a run is
  the connections divided by the throughput (a queue), so it is shown but not judged;
- at a steady pace (each connection waits 0 to 2 * PAUSE_MS, at random, after a
  response: about 900 req/s in all) for the latency the hop adds: the upstream
  directly, the fault proxy, nginx.

Targets: the fault proxy's throughput >= 60 % of nginx's and >= 3x the naive proxy's;
its median latency at 32 paced connections < 1 ms above the upstream's own.

    .venv/bin/python bench/passthrough_bench.py [--duration-s 5] [--rounds 3] [--json FILE]
    .venv/bin/python bench/passthrough_bench.py naive-proxy --upstream URL   # the naive side
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    WRK_INSTALL,
    BenchError,
    Load,
    OneLineParser,
    Result,
    Services,
    Usage,
    UsageError,
    Wrk,
    alternate,
    at_least,
    below,
    bounded_int,
    cpu_shares,
    free_port,
    median,
    require_tool,
    run_main,
    services,
)

from common import REGIONS
from common.service import public_url, wait_for_stop, write_ready_file

NGINX_INSTALL = "apt-get install -y nginx"
PATHS = [f"/catalog?region={region}" for region in REGIONS]
CONNECTIONS = 32
PAUSE_MS = 32
NGINX_RATIO = 0.60
NAIVE_RATIO = 3.0
ADDED_LATENCY_MS = 1.0
BUDGET_S = 170

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx.error.log warn;
{user}
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {folder}/client_body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  upstream simulator {{
    server {upstream};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://simulator;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Measured:
    """One wrk run against one side, with the CPU shares of the processes involved."""

    load: Load
    usage: Usage


# --- the naive proxy (a child process of the bench) -------------------------------------


def naive_app(upstream: str) -> web.Application:
    """A proxy as it is often first written: a new session, so a new connection, per request."""

    async def forward(request: web.Request) -> web.Response:
        async with (
            aiohttp.ClientSession() as session,
            session.get(upstream + request.rel_url.raw_path_qs) as reply,
        ):
            body = await reply.read()
            return web.Response(body=body, status=reply.status, content_type=reply.content_type)

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    return app


async def serve_naive(upstream: str, ready_file: Path, parent_pid: int | None) -> None:
    runner = web.AppRunner(naive_app(upstream.rstrip("/")), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        write_ready_file(ready_file, {"url": public_url("127.0.0.1", port)})
        await wait_for_stop(parent_pid)
    finally:
        await runner.cleanup()


def naive_main(argv: list[str]) -> int:
    parser = OneLineParser(prog="passthrough_bench.py naive-proxy")
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--listen", type=int, default=0, help="only 0 is supported")
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    asyncio.run(serve_naive(args.upstream, args.ready_file, args.parent_pid))
    return 0


# --- nginx --------------------------------------------------------------------------------


def start_nginx(running: Services, nginx: str, upstream_url: str) -> str:
    """nginx with one worker in front of the upstream; returns its URL."""
    folder = running.folder / "nginx"
    folder.mkdir()
    port = free_port()
    upstream = upstream_url.removeprefix("http://").rstrip("/")
    # As root, nginx's worker would switch to `nobody`, which cannot use the temp folder.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = NGINX_CONF.format(folder=folder, user=user, upstream=upstream, port=port)
    (folder / "nginx.conf").write_text(conf)
    command = [nginx, "-p", str(folder), "-c", str(folder / "nginx.conf")]
    command += ["-e", str(folder / "nginx.error.log")]
    running.spawn("nginx", command)
    url = f"http://127.0.0.1:{port}"
    running.wait_http("nginx", url + PATHS[0])
    running.urls["nginx"] = url
    return url


def nginx_worker(master: int) -> int:
    """The pid of nginx's one worker process."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if not children:
        raise BenchError("nginx has no worker process")
    return int(children[0])


# --- the bench ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    duration_s: int
    latency_duration_s: int
    rounds: int
    json_path: Path | None


def parse_options(argv: list[str]) -> Options:
    parser = OneLineParser(prog="bench/passthrough_bench.py", description=__doc__)
    parser.add_argument("--duration-s", type=bounded_int(2, 15), default=5, help="per run")
    parser.add_argument("--latency-duration-s", type=bounded_int(2, 10), default=4)
    parser.add_argument("--rounds", type=bounded_int(1, 5), default=3)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    return Options(args.duration_s, args.latency_duration_s, args.rounds, args.json)


def measure(options: Options) -> Result:
    wrk_path = require_tool("wrk", WRK_INSTALL)
    nginx = require_tool("nginx", NGINX_INSTALL)
    with services("passthrough-bench-") as running:
        upstream = running.start_python(
            "upstream", ["-m", "discovery", "upstream", "--generation-s", "60"]
        )
        running.start_python("proxy", ["-m", "faults", "--upstream", upstream, "--seed", "1"])
        naive = [str(Path(__file__).resolve()), "naive-proxy", "--upstream", upstream]
        running.start_python("naive", naive)
        start_nginx(running, nginx, upstream)
        pids = {
            "upstream": running.pid("upstream"),
            "proxy": running.pid("proxy"),
            "naive": running.pid("naive"),
            "nginx": nginx_worker(running.pid("nginx")),
        }
        wrk = Wrk.with_paths(wrk_path, running.folder, PATHS, "catalogs")
        paced = Wrk.with_paths(wrk_path, running.folder, PATHS, "paced", PAUSE_MS)
        for name in ("upstream", "proxy", "nginx", "naive"):
            wrk.run(running.urls[name], CONNECTIONS, 1)  # warm-up: connections, caches

        def side(name: str, wrk: Wrk, duration_s: int) -> Callable[[], Measured]:
            watched = {"upstream": pids["upstream"]}
            if name != "upstream":
                watched[name] = pids[name]

            def run() -> Measured:
                with cpu_shares(watched) as usage:
                    load = wrk.run(running.urls[name], CONNECTIONS, duration_s)
                if load.errors:
                    raise BenchError(f"{name}: {load.errors} errors of {load.requests}")
                return Measured(load, usage)

            return run

        def show(number: int, name: str, measured: Measured) -> None:
            load = measured.load
            print(
                f"round {number} {name:8s} {load.requests_per_s:6.0f} req/s, median "
                f"{load.median_ms:5.2f} ms, p99 {load.p99_ms:5.1f} ms; cpu "
                f"{measured.usage.text()}",
                flush=True,
            )

        print(f"throughput: wrk, 1 thread, {CONNECTIONS} connections, {options.duration_s} s")
        busy = alternate({n: side(n, wrk, options.duration_s) for n in pids}, options.rounds, show)
        print(
            f"latency: wrk, 1 thread, {CONNECTIONS} connections pausing 0 to {2 * PAUSE_MS} ms "
            f"(at random) after each response, {options.latency_duration_s} s"
        )
        quiet = alternate(
            {n: side(n, paced, options.latency_duration_s) for n in ("upstream", "proxy", "nginx")},
            options.rounds,
            show,
        )
    return report(options, busy, quiet)


def report(
    options: Options, busy: dict[str, list[Measured]], quiet: dict[str, list[Measured]]
) -> Result:
    def rps(name: str) -> float:
        return median([m.load.requests_per_s for m in busy[name]])

    def p50(runs: dict[str, list[Measured]], name: str) -> float:
        return median([m.load.median_ms for m in runs[name]])

    def share(name: str, process: str) -> float:
        return median([m.usage.cores.get(process, 0.0) for m in busy[name]])

    added_busy = p50(busy, "proxy") - p50(busy, "upstream")
    added_quiet = p50(quiet, "proxy") - p50(quiet, "upstream")
    result = Result(
        "passthrough",
        "make bench (or: .venv/bin/python bench/passthrough_bench.py)",
    )
    for name in busy:
        result.figures.append(
            f"{name}: {rps(name):.0f} req/s, median {p50(busy, name):.2f} ms at "
            f"{CONNECTIONS} connections; cpu {name} {share(name, name):.2f}, upstream "
            f"{share(name, 'upstream'):.2f} core"
        )
    for name, runs in quiet.items():
        result.figures.append(
            f"{name} at a steady pace: {median([m.load.requests_per_s for m in runs]):.0f}"
            f" req/s, median {p50(quiet, name):.3f} ms, p99 "
            f"{median([m.load.p99_ms for m in runs]):.2f} ms"
        )
    result.figures.append(
        f"median latency the fault proxy adds: {added_quiet:.3f} ms at a steady pace, "
        f"{added_busy:.2f} ms at full speed (a queue: {CONNECTIONS} / throughput)"
    )
    result.targets = [
        at_least("fault proxy / nginx throughput", rps("proxy") / rps("nginx"), NGINX_RATIO),
        at_least("fault proxy / naive proxy throughput", rps("proxy") / rps("naive"), NAIVE_RATIO),
        below(
            f"added median latency, {CONNECTIONS} paced connections, ms",
            added_quiet,
            ADDED_LATENCY_MS,
            " ms",
        ),
    ]
    print(*result.figures, sep="\n")
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["naive-proxy"]:
        return naive_main(args[1:])
    try:
        options = parse_options(args)
    except UsageError as exc:
        print(f"passthrough_bench: {exc}", file=sys.stderr)
        return 2
    return run_main("passthrough_bench", lambda: measure(options), BUDGET_S, options.json_path)


if __name__ == "__main__":
    sys.exit(main())
