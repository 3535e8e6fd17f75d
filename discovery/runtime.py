"""What every discovery child process shares: listen, report the URL, stop with the parent.

The ready file, the parent watch and the public URL come from common.service; this
module adds the aiohttp listener and maps their errors onto discovery's UsageError.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from common.service import (
    check_parent_pid,
    check_ready_file,
    public_url,
    wait_for_stop,
    write_ready_file,
)
from discovery.errors import UsageError

logger = logging.getLogger(__name__)

# Every response of these services is small; a handler still running after this is stuck.
SHUTDOWN_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Listen:
    """Where a service listens and whom it reports to."""

    host: str
    port: int
    ready_file: Path | None = None
    parent_pid: int | None = None


def check_listen(listen: Listen) -> None:
    """Raise UsageError for a port, ready file or parent pid that cannot work."""
    if not 0 <= listen.port <= 65535:
        raise UsageError(f"--listen {listen.port}: not a TCP port; use 0..65535 (0 = any free)")
    if listen.ready_file is not None:
        check_ready_file(listen.ready_file, UsageError)
    if listen.parent_pid is not None:
        check_parent_pid(listen.parent_pid, UsageError)


async def serve_until_stopped(
    app: web.Application,
    listen: Listen,
    on_listening: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Serve `app` until SIGTERM, SIGINT or the parent's exit; then clean up and return."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        url = await _start_site(runner, listen)
        if on_listening is not None:
            await on_listening(url)
        if listen.ready_file is not None:
            write_ready_file(listen.ready_file, {"url": url}, UsageError)
        logger.info("listening on %s", url)
        reason = await wait_for_stop(listen.parent_pid)
        logger.info("shutting down: %s", reason)
    finally:
        await runner.cleanup()


async def _start_site(runner: web.AppRunner, listen: Listen) -> str:
    site = web.TCPSite(runner, listen.host, listen.port, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    try:
        await site.start()
    except OSError as exc:
        raise UsageError(
            f"--listen {listen.port}: cannot listen on {listen.host}:{listen.port} "
            f"({exc.strerror or exc}); choose a free port or 0"
        ) from exc
    port = int(runner.addresses[0][1])
    return public_url(listen.host, port)
