"""The command line: validate every input, then serve until a signal or the parent is gone.

A bad option, profile, path or a port already taken ends the process with one stderr
line and exit code 2, before anything is written.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

from common.service import (
    check_parent_pid,
    check_ready_file,
    public_url,
    wait_for_stop,
    write_ready_file,
)
from faults.admission import is_loopback
from faults.app import build_app
from faults.collector import tune_collector
from faults.errors import UsageError
from faults.ledger import Ledger, sanitized_path
from faults.profile import EMPTY_PROFILE, Profile, load_profile
from faults.proxy import DEFAULT_SUMMARY_INTERVAL_S, FaultProxy
from faults.upstream import Upstream, redacted_url

log = logging.getLogger(__name__)

LEFTOVER_GRACE_S = 0.2
UPSTREAM_TIMEOUT_S = 30.0
MAX_PORT = 65535
MIN_TOKEN_CHARS = 16
# Each held fault is one open socket; a thousand of them must not hit a 1024 soft limit.
WANTED_OPEN_FILES = 65536


@dataclass(frozen=True)
class Config:
    """Every validated input of one proxy run."""

    host: str
    port: int
    upstream_url: str
    profile: Profile
    seed: int
    ledger_path: Path | None
    ready_file: Path | None
    parent_pid: int | None
    token: str | None = None
    summary_interval_s: float = DEFAULT_SUMMARY_INTERVAL_S


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see python -m faults --help")


def build_parser() -> argparse.ArgumentParser:
    """The option parser of `python -m faults`."""
    parser = _OneLineParser(
        prog="python -m faults",
        description="Reverse proxy in front of one upstream that lies for the regions "
        "a fault profile names, reproducibly from a seed.",
    )
    parser.add_argument("--listen", type=int, required=True, metavar="PORT", help="0 = any")
    parser.add_argument("--upstream", required=True, metavar="URL", help="base URL to forward to")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="fault profile JSON")
    parser.add_argument("--seed", type=int, help="seed of the fault draws (random if absent)")
    parser.add_argument("--ledger", type=Path, metavar="PATH", help="CSV of injected faults")
    parser.add_argument("--ready-file", type=Path, metavar="PATH", help='gets {"url": ...}')
    parser.add_argument("--parent-pid", type=int, metavar="PID", help="exit when PID is gone")
    parser.add_argument(
        "--token",
        help="control API needs 'Authorization: Bearer TOKEN'; required off loopback",
    )
    parser.add_argument(
        "--summary-interval-s",
        type=float,
        default=DEFAULT_SUMMARY_INTERVAL_S,
        metavar="S",
        help="log a counters summary at most this often while they change; 0 = at exit only",
    )
    return parser


def parse_config(argv: list[str] | None) -> Config:
    """Parse and check the options; raise UsageError naming the first bad one."""
    args = build_parser().parse_args(argv)
    if not 0 <= args.listen <= MAX_PORT:
        raise UsageError(f"--listen {args.listen}: not a port; pass 0..{MAX_PORT} (0 = any)")
    _check_upstream(args.upstream)
    if args.ledger is not None and not args.ledger.parent.is_dir():
        raise UsageError(
            f"--ledger {args.ledger}: folder {args.ledger.parent} does not exist; create it"
        )
    if args.ready_file is not None:
        check_ready_file(args.ready_file, UsageError)
    if args.parent_pid is not None:
        check_parent_pid(args.parent_pid, UsageError)
    _check_token(args.host, args.token)
    if not 0 <= args.summary_interval_s <= 86400:
        raise UsageError(
            f"--summary-interval-s {args.summary_interval_s}: pass 0..86400 seconds (0 = at exit)"
        )
    return Config(
        host=args.host,
        port=args.listen,
        upstream_url=args.upstream,
        profile=load_profile(args.profile) if args.profile else EMPTY_PROFILE,
        seed=args.seed if args.seed is not None else secrets.randbelow(2**31),
        ledger_path=args.ledger,
        ready_file=args.ready_file,
        parent_pid=args.parent_pid,
        token=args.token,
        summary_interval_s=args.summary_interval_s,
    )


def _check_token(host: str, token: str | None) -> None:
    # Off loopback anyone who can reach the port could retarget the faults, so the
    # control API is never left open there.
    if token is None:
        if not is_loopback(host):
            raise UsageError(
                f"--host {host}: binding off loopback exposes the control API; pass "
                f"--token with at least {MIN_TOKEN_CHARS} characters (for example from "
                "python -c 'import secrets; print(secrets.token_urlsafe())')"
            )
        return
    if len(token) < MIN_TOKEN_CHARS or not token.isprintable() or " " in token:
        raise UsageError(
            f"--token: needs at least {MIN_TOKEN_CHARS} printable characters and no spaces; "
            "pass a longer one"
        )


def _check_upstream(text: str) -> None:
    try:
        url = URL(text)
    except ValueError:
        url = URL()
    malformed = not url.host or any(char.isspace() for char in text)
    if url.scheme not in ("http", "https") or malformed or url.query_string or url.fragment:
        raise UsageError(
            f"--upstream {redacted_url(text)}: not an http(s) base URL; pass one like "
            "http://127.0.0.1:8080"
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


async def _listen(runner: web.AppRunner, config: Config) -> int:
    site = web.TCPSite(runner, config.host, config.port)
    try:
        await site.start()
    except OSError as exc:
        raise UsageError(
            f"--listen {config.port}: cannot listen on {config.host}:{config.port} "
            f"({_reason(exc)}); pick a free port or 0"
        ) from None
    return int(runner.addresses[0][1])


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, WANTED_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (OSError, ValueError) as exc:
            log.warning("open files stay limited to %d: %s", soft, exc)


async def serve(config: Config) -> int:
    """Listen, announce the URL, and proxy until stopped; 0 after a clean shutdown."""
    _raise_open_files_limit()
    ledger = Ledger(config.ledger_path)
    proxy = FaultProxy(
        Upstream(config.upstream_url, UPSTREAM_TIMEOUT_S), config.profile, config.seed, ledger
    )
    app = build_app(proxy, config.host, config.token, config.summary_interval_s)
    # The app's own shutdown hook gives in-flight requests their grace and then aborts
    # them; aiohttp's wait only covers a control call that is still running.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=LEFTOVER_GRACE_S)
    await runner.setup()
    try:
        port = await _listen(runner, config)
        # Everything built so far lives as long as the process: see faults.collector.
        tune_collector()
        ledger.open()
        proxy.record_start()
        url = public_url(config.host, port)
        if config.ready_file is not None:
            write_ready_file(config.ready_file, {"url": url, "seed": config.seed}, UsageError)
        log.info(
            "listening on %s, upstream %s, seed %d, control API %s, profile: %s",
            url,
            redacted_url(config.upstream_url),
            config.seed,
            "needs the token" if config.token else "open to loopback",
            config.profile.summary(),
        )
        reason = await wait_for_stop(config.parent_pid)
        log.info("shutting down: %s", reason)
    finally:
        await runner.cleanup()
        ledger.close()
    # After cleanup, so that faults cut short by the shutdown are counted too.
    log.info("faults at shutdown: %s", proxy.summary())
    return 0


class OneLineBadRequests(logging.Filter):
    """Turn aiohttp's traceback for an unparseable request into one sanitized WARNING line.

    Such requests come from clients, not from a bug of the proxy; a client could
    otherwise fill the log with tracebacks and control characters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "unknown"
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "refused a malformed request from %s: %d %s"
            record.args = (peer, error.code, sanitized_path(" ".join(error.message.split())))
            record.exc_info, record.exc_text = None, None
        return True


def main(argv: list[str] | None = None) -> int:
    """Run the proxy; the exit code is 0 after a clean shutdown, 2 on bad input."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiohttp.server").addFilter(OneLineBadRequests())
    try:
        return asyncio.run(serve(parse_config(argv)))
    except UsageError as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 2
