"""The embedded /discover next to a trivial aiohttp handler that returns the same bytes.

Starts the upstream simulator and the discovery service (`python -m discovery serve`,
ingest straight from the upstream) on free loopback ports and waits until every region
is cached. Then it starts a trivial aiohttp server, written here, whose one handler
returns a constant body: the bytes discovery answers to `/discover?region=US`, so both
sides send as much. wrk loads both in alternating rounds with the storm's mix, for the
eight regions in turn: three `/discover?region=XX` for one `/discover?region=XX&q=word`
(an FTS5 search; the words are the storm's).

The target: discovery's throughput >= 50 % of the trivial handler's.

    .venv/bin/python bench/discover_bench.py [--duration-s 5] [--rounds 3] [--json FILE]
    .venv/bin/python bench/discover_bench.py trivial-server --body-file F   # the other side
"""

from __future__ import annotations

import ast
import asyncio
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    ROOT,
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
    bounded_int,
    cpu_shares,
    median,
    require_tool,
    run_main,
    services,
)

from common import REGIONS
from common.service import public_url, wait_for_stop, write_ready_file

CONNECTIONS = 32
RATIO_TARGET = 0.5
BUDGET_S = 120


def storm_search_words() -> tuple[str, ...]:
    """storm.users.SEARCH_WORDS, read without importing Locust into the bench."""
    tree = ast.parse((ROOT / "storm" / "users.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "SEARCH_WORDS" for target in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise BenchError("storm/users.py defines no SEARCH_WORDS")


def storm_mix() -> list[str]:
    """Three reads for one search per region, as the storm's users do."""
    words = storm_search_words()
    paths = []
    for number, region in enumerate(REGIONS):
        paths += [f"/discover?region={region}"] * 3
        paths.append(f"/discover?region={region}&q={words[number % len(words)]}")
    return paths


# --- the trivial server (a child process of the bench) ----------------------------------


async def serve_trivial(body: bytes, ready_file: Path, parent_pid: int | None) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        write_ready_file(ready_file, {"url": public_url("127.0.0.1", port)})
        await wait_for_stop(parent_pid)
    finally:
        await runner.cleanup()


def trivial_main(argv: list[str]) -> int:
    parser = OneLineParser(prog="discover_bench.py trivial-server")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--listen", type=int, default=0, help="only 0 is supported")
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    asyncio.run(serve_trivial(args.body_file.read_bytes(), args.ready_file, args.parent_pid))
    return 0


# --- the bench ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    duration_s: int
    rounds: int
    json_path: Path | None


@dataclass(frozen=True)
class Measured:
    load: Load
    usage: Usage


def parse_options(argv: list[str]) -> Options:
    parser = OneLineParser(prog="bench/discover_bench.py", description=__doc__)
    parser.add_argument("--duration-s", type=bounded_int(2, 15), default=5, help="per run")
    parser.add_argument("--rounds", type=bounded_int(1, 5), default=3)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args(argv)
    return Options(args.duration_s, args.rounds, args.json)


def start_sides(running: Services) -> None:
    upstream = running.start_python("upstream", ["-m", "discovery", "upstream"])
    db = running.folder / "discovery.db"
    serve = ["-m", "discovery", "serve", "--upstream", upstream, "--db", str(db)]
    url = running.start_python("discovery", serve)
    running.wait_http("discovery", f"{url}/health", lambda body: bool(body.get("warm")))
    body_file = running.folder / "discover-US.json"
    with urllib.request.urlopen(f"{url}/discover?region=US", timeout=5) as reply:
        body_file.write_bytes(reply.read())
    trivial = [str(Path(__file__).resolve()), "trivial-server", "--body-file", str(body_file)]
    running.start_python("trivial", trivial)


def measure(options: Options) -> Result:
    wrk_path = require_tool("wrk", WRK_INSTALL)
    with services("discover-bench-") as running:
        start_sides(running)
        wrk = Wrk.with_paths(wrk_path, running.folder, storm_mix(), "storm_mix")
        for name in ("discovery", "trivial"):
            wrk.run(running.urls[name], CONNECTIONS, 1)  # warm-up

        def side(name: str) -> Callable[[], Measured]:
            def run() -> Measured:
                with cpu_shares({name: running.pid(name)}) as usage:
                    load = wrk.run(running.urls[name], CONNECTIONS, options.duration_s)
                if load.errors:
                    raise BenchError(f"{name}: {load.errors} errors of {load.requests}")
                return Measured(load, usage)

            return run

        def show(number: int, name: str, measured: Measured) -> None:
            load = measured.load
            print(
                f"round {number} {name:9s} {load.requests_per_s:6.0f} req/s, median "
                f"{load.median_ms:5.2f} ms; cpu {measured.usage.text()}",
                flush=True,
            )

        print(
            f"wrk, 1 thread, {CONNECTIONS} connections, {options.duration_s} s, /discover: "
            "3 reads for 1 search (q=) per region"
        )
        runs = alternate({n: side(n) for n in ("discovery", "trivial")}, options.rounds, show)
    return report(runs)


def report(runs: dict[str, list[Measured]]) -> Result:
    def rps(name: str) -> float:
        return median([m.load.requests_per_s for m in runs[name]])

    def share(name: str) -> float:
        return median([m.usage.cores[name] for m in runs[name]])

    result = Result("discover", "make bench (or: .venv/bin/python bench/discover_bench.py)")
    for name in runs:
        result.figures.append(
            f"{name}: {rps(name):.0f} req/s, server at {share(name):.2f} core, "
            f"{share(name) * 1e6 / rps(name):.0f} us CPU/request"
        )
    result.targets = [
        at_least("discovery / trivial handler req/s", rps("discovery") / rps("trivial"), 0.5)
    ]
    print(*result.figures, sep="\n")
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["trivial-server"]:
        return trivial_main(args[1:])
    try:
        options = parse_options(args)
    except UsageError as exc:
        print(f"discover_bench: {exc}", file=sys.stderr)
        return 2
    return run_main("discover_bench", lambda: measure(options), BUDGET_S, options.json_path)


if __name__ == "__main__":
    sys.exit(main())
