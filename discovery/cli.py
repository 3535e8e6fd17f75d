"""Command line of `python -m discovery upstream|serve`.

A bad option prints one line naming it and the fix, and exits 2 before anything is
written; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from discovery.errors import StoreError, UsageError
from discovery.ingest import BUGS, INGEST_MODES, IngestSettings, UnknownBugError, parse_bugs
from discovery.runtime import Listen
from discovery.service import ServeOptions, run_service
from discovery.upstream import UpstreamOptions, run_upstream

EXIT_OK = 0
EXIT_USAGE = 2
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number above 0, in ASCII digits (isdigit() also takes "²")."""
    if not WHOLE_NUMBER.fullmatch(text.strip()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


def fraction(text: str) -> float:
    """argparse type: a number from 0 to 1 (below 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to below 1")
    return value


def bug_names(text: str) -> frozenset[str]:
    """argparse type: comma-separated bug names, `all`, or nothing."""
    try:
        return parse_bugs(text)
    except UnknownBugError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_listen_options(parser: argparse.ArgumentParser) -> None:
    """Options every child process accepts."""
    parser.add_argument("--listen", type=int, default=0, metavar="PORT", help="0 = any free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ready-file", type=Path, help='write {"url": ...} here once listening')
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")


def build_parser() -> OneLineParser:
    """Return the parser with the `upstream` and `serve` subcommands."""
    parser = OneLineParser(prog="python -m discovery", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="upstream|serve")

    upstream = commands.add_parser("upstream", help="seeded upstream catalog simulator")
    add_listen_options(upstream)
    upstream.add_argument("--seed", type=int, default=1)
    upstream.add_argument("--generation-s", type=positive_float, default=10.0)

    serve = commands.add_parser("serve", help="cache, ingest cron and /discover API")
    add_listen_options(serve)
    serve.add_argument("--upstream", required=True, metavar="URL")
    serve.add_argument("--db", required=True, type=Path, metavar="PATH")
    serve.add_argument(
        "--ingest", choices=INGEST_MODES, default="hardened", help="naive: every bug on"
    )
    serve.add_argument(
        "--bugs",
        type=bug_names,
        default=frozenset(),
        metavar="NAMES",
        help=f"comma-separated bugs to switch on, or all: {', '.join(BUGS)}",
    )
    serve.add_argument("--format", choices=("ndjson", "json"), default="ndjson")
    serve.add_argument("--interval-s", type=positive_float, default=2.0)
    serve.add_argument("--deadline-s", type=positive_float, default=3.0)
    serve.add_argument("--min-items", type=positive_int, default=50)
    serve.add_argument(
        "--shrink-floor",
        type=fraction,
        default=0.5,
        help="refuse a catalog under this share of the last snapshot; 0: no check",
    )
    serve.add_argument("--min-bytes-per-s", type=positive_float, default=8192.0)
    serve.add_argument("--trip-after", type=positive_int, default=3)
    serve.add_argument("--cooldown-s", type=positive_float, default=5.0)
    serve.add_argument(
        "--max-cooldown-s",
        type=positive_float,
        default=10.0,
        help="the longest a Retry-After keeps a region's breaker open",
    )
    return parser


def listen_of(args: argparse.Namespace) -> Listen:
    """Return the Listen options parsed into `args`."""
    return Listen(args.host, args.listen, args.ready_file, args.parent_pid)


def serve_options(args: argparse.Namespace) -> ServeOptions:
    """Return the ServeOptions parsed into `args`."""
    settings = IngestSettings(
        upstream_url=args.upstream,
        body_format=args.format,
        deadline_s=args.deadline_s,
        min_items=args.min_items,
        shrink_floor=args.shrink_floor,
        min_bytes_per_s=args.min_bytes_per_s,
        trip_after=args.trip_after,
        cooldown_s=args.cooldown_s,
        max_cooldown_s=args.max_cooldown_s,
    )
    return ServeOptions(listen_of(args), args.db, settings, args.ingest, args.interval_s, args.bugs)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen subcommand; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "upstream":
            options = UpstreamOptions(listen_of(args), args.seed, args.generation_s)
            asyncio.run(run_upstream(options))
        else:
            asyncio.run(run_service(serve_options(args)))
    except (UsageError, StoreError) as exc:
        print(f"python -m discovery {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    return EXIT_OK
