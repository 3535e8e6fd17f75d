"""Checks that run while Locust imports the locustfile, before it opens its CSV files.

Locust truncates `PREFIX_*.csv` as soon as it has parsed its options, before any event
of the locustfile runs. A storm started with bad options, or into the files of a storm
that is still running, would therefore wipe the earlier run's results before it could
say no. The options are parsed here once more, with Locust's own parser, and checked
first; the run folder's lock is taken here and held for the life of the process.
"""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path
from typing import TextIO

from locust.argument_parser import get_parser

from storm.errors import StormError, fail
from storm.external import read_cache
from storm.options import check_users, csv_prefix, settings_from
from storm.stack import probe_host

# Options after which Locust does no run at all.
NO_RUN = {
    "-h",
    "--help",
    "-V",
    "--version",
    "-l",
    "--list",
    "--show-task-ratio",
    "--show-task-ratio-json",
    "--worker",
}

_locks: dict[Path, TextIO] = {}


def lock_run_folder(prefix: Path) -> TextIO:
    """Hold an exclusive lock on the run's prefix, so that two storms never write into the
    same files; taking it again in the same process returns the lock already held."""
    if prefix in _locks:
        return _locks[prefix]
    path = prefix.with_name(f".{prefix.name}.lock")
    try:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as exc:
        raise StormError(f"--csv {prefix}: cannot write there ({exc.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StormError(
            f"another storm is writing into {prefix}_*: wait for it or choose another --csv"
        ) from None
    _locks[prefix] = handle
    return handle


def preflight(argv: list[str]) -> None:
    """Validate the storm's options and lock its run folder, or exit 2 with one line."""
    if NO_RUN.intersection(argv) or any(arg.startswith("--worker") for arg in argv):
        return
    options = get_parser().parse_args(argv)
    if options.worker:
        return
    try:
        if options.headless:
            check_users(options)
        settings = settings_from(options)
        lock_run_folder(csv_prefix(options))
        # An external API that does not answer, or a cache that cannot be read, must
        # refuse the storm before Locust truncates the last run's CSVs.
        if options.host:
            probe_host(str(options.host))
            if settings.cache_db:
                read_cache(settings.cache_db, settings.cache_query)
    except StormError as exc:
        fail(str(exc))


def run_preflight() -> None:
    """Preflight for the command line Locust is running with."""
    preflight(sys.argv[1:])
