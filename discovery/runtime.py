"""What every discovery child process shares: listen, report the URL, stop with the parent.

A service writes its ready file only once its socket accepts connections, so whoever
started it can connect as soon as the file exists. With `--parent-pid` it exits when that
process is gone, so a killed load generator never leaves servers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from discovery.errors import UsageError

logger = logging.getLogger(__name__)

PARENT_POLL_S = 0.25
# Every response of these services is small; a handler still running after this is stuck.
SHUTDOWN_TIMEOUT_S = 0.5
# Read at import: the process that started this one, before any re-parenting.
_ORIGINAL_PPID = os.getppid()


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
        check_ready_file(listen.ready_file)
    if listen.parent_pid is not None and not process_alive(listen.parent_pid):
        raise UsageError(
            f"--parent-pid {listen.parent_pid}: no such process; pass the pid of a running one"
        )


def check_ready_file(path: Path) -> None:
    """Raise UsageError unless a ready file can be written at `path` (probed, left clean)."""
    if not path.parent.is_dir():
        raise UsageError(
            f"--ready-file {path}: folder {path.parent} does not exist; "
            "create it or choose another path"
        )
    if path.exists() and not path.is_file():
        raise UsageError(
            f"--ready-file {path}: not a regular file (a folder?); pass a file path in a folder"
        )
    # Permission bits do not tell (root passes them, /proc refuses files anyway): try it.
    try:
        descriptor, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UsageError(
            f"--ready-file {path}: cannot write in {path.parent} ({exc.strerror or exc}); "
            "choose a path in a writable folder"
        ) from None
    os.close(descriptor)
    os.unlink(probe)


def process_alive(pid: int) -> bool:
    """Return whether process `pid` still runs (a zombie parent counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited but unreaped process still answers kill(0): a zombie, or an original
    # parent we have been re-parented away from, is gone.
    if pid == _ORIGINAL_PPID and os.getppid() != pid:
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False  # no procfs (not Linux): rely on kill(0) and re-parenting alone
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def public_url(host: str, port: int) -> str:
    """Return the URL clients use, mapping a wildcard bind address to loopback."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def write_ready_file(path: Path, url: str) -> None:
    """Write `{"url": url}` to `path` atomically (a reader never sees half a file).

    Raises UsageError when it cannot be written; no temporary file is left behind.
    """
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"url": url}, handle)
        os.replace(tmp_name, path)
    except OSError as exc:
        _discard(tmp_name)
        raise UsageError(
            f"--ready-file {path}: cannot write it ({exc.strerror or exc}); "
            "choose a file path in a writable folder"
        ) from None
    except BaseException:
        _discard(tmp_name)
        raise


def _discard(tmp_name: str) -> None:
    if tmp_name:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)


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
            write_ready_file(listen.ready_file, url)
        logger.info("listening on %s", url)
        await _wait_for_stop(listen.parent_pid)
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


async def _wait_for_stop(parent_pid: int | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    watcher = asyncio.create_task(_watch_parent(parent_pid, stop)) if parent_pid else None
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if watcher is not None:
            watcher.cancel()


async def _watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    while process_alive(parent_pid):
        await asyncio.sleep(PARENT_POLL_S)
    logger.info("parent process %d is gone; stopping", parent_pid)
    stop.set()
