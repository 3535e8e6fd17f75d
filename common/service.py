"""What every child service of the suite shares: the ready file, the parent watch, the URL.

A service writes its ready file only once its socket accepts connections, so whoever
started it can connect as soon as the file exists. With a parent pid it stops when that
process is gone, so a killed load generator never leaves servers behind.

Each check raises the error type its caller passes, so every package keeps its own
exception tree; the messages name the command-line option (`--ready-file`, `--parent-pid`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

PARENT_POLL_S = 0.25
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Read at import: the process that started this one, before any re-parenting.
_ORIGINAL_PPID = os.getppid()

ErrorFactory = Callable[[str], Exception]


class ServiceError(ValueError):
    """A ready file or parent pid that cannot work; the message is one line that says the fix."""


def check_ready_file(path: Path, error: ErrorFactory = ServiceError) -> None:
    """Raise `error` unless a ready file can be written at `path` (probed, left clean)."""
    if not path.parent.is_dir():
        raise error(
            f"--ready-file {path}: folder {path.parent} does not exist; "
            "create it or choose another path"
        )
    if path.exists() and not path.is_file():
        raise error(
            f"--ready-file {path}: not a regular file (a folder?); pass a file path in a folder"
        )
    # Permission bits do not tell (root passes them, /proc refuses files anyway): try it.
    try:
        descriptor, probe = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise error(
            f"--ready-file {path}: cannot write in {path.parent} ({exc.strerror or exc}); "
            "choose a path in a writable folder"
        ) from None
    os.close(descriptor)
    os.unlink(probe)


def check_parent_pid(pid: int, error: ErrorFactory = ServiceError) -> None:
    """Raise `error` unless `pid` names a running process that can be watched."""
    # kill(0, 0) and kill(-1, 0) signal process groups and succeed, so such a "parent"
    # would never be seen gone.
    if pid < 1:
        raise error(f"--parent-pid {pid}: not a process id; pass the pid (1 or more)")
    if not process_alive(pid):
        raise error(f"--parent-pid {pid}: no such process; pass the pid of a running one")


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


def write_ready_file(
    path: Path, content: Mapping[str, object], error: ErrorFactory = ServiceError
) -> None:
    """Write `content` as JSON to `path` atomically (a reader never sees half a file).

    Raises `error` when it cannot be written; no temporary file is left behind.
    """
    tmp_name = ""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(content), handle)
        os.replace(tmp_name, path)
    except OSError as exc:
        _discard(tmp_name)
        raise error(
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


async def wait_for_stop(parent_pid: int | None) -> str:
    """Wait for SIGTERM, SIGINT or the exit of `parent_pid`; return which one, for the log."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    # The handlers stay installed: a second Ctrl-C must not cut the (bounded) cleanup
    # short with a traceback; the loop removes them when it closes.
    poll_s = PARENT_POLL_S if parent_pid is not None else None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_s)
        if parent_pid is not None and not stop.is_set() and not process_alive(parent_pid):
            return f"parent process {parent_pid} is gone"
    return "signal"
