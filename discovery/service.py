"""`python -m discovery serve`: the cache, the ingest cron and the read API in one process."""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from common.regions import REGIONS
from discovery import api
from discovery.cron import start_cron, stop_cron
from discovery.errors import UsageError
from discovery.ingest import INGEST_MODES, IngestSettings, make_ingestor, mode_bugs
from discovery.runtime import Listen, check_listen, serve_until_stopped
from discovery.store import open_store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    """Options of `python -m discovery serve`."""

    listen: Listen
    db_path: Path
    ingest: IngestSettings
    ingest_mode: str = "hardened"
    interval_s: float = 2.0
    bugs: frozenset[str] = frozenset()


def check_upstream_url(url: str) -> None:
    """Raise UsageError unless `url` is an absolute http(s) URL with a host."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(
            f"--upstream {url!r}: not an http(s) URL with a host; "
            "use for example http://127.0.0.1:8081"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port outside 0..65535
    except ValueError as exc:
        raise UsageError(f"--upstream {url!r}: {exc}; fix the port") from exc


def check_options(options: ServeOptions) -> None:
    """Raise UsageError for options the service cannot honour (before anything is written)."""
    check_listen(options.listen)
    check_upstream_url(options.ingest.upstream_url)
    if options.ingest_mode not in INGEST_MODES:
        raise UsageError(
            f"--ingest {options.ingest_mode!r}: unknown; use one of {' or '.join(INGEST_MODES)}"
        )


async def run_service(options: ServeOptions) -> None:
    """Open the cache, start the API and one ingest task per region; run until stopped.

    A cache file this run created is removed again when start-up fails (a port already
    taken, a ready file that cannot be written): a refused start leaves nothing behind.
    """
    check_options(options)
    created = not options.db_path.exists()
    try:
        await _serve(options)
    except UsageError:
        if created:
            remove_database(options.db_path)
        raise


def remove_database(path: Path) -> None:
    """Delete the SQLite file at `path` and the journal files beside it, if present."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


async def _serve(options: ServeOptions) -> None:
    store = open_store(options.db_path)
    bugs = mode_bugs(options.ingest_mode, options.bugs)
    ingestor = make_ingestor(options.ingest_mode, store, options.ingest, bugs)
    tasks = []

    async def start_ingest(url: str) -> None:
        logger.info(
            "ingest=%s bugs=%s upstream=%s db=%s",
            options.ingest_mode,
            ",".join(sorted(bugs)) or "-",
            options.ingest.upstream_url,
            options.db_path,
        )
        serial = "serial_loop" in bugs
        tasks.extend(start_cron(ingestor, REGIONS, options.interval_s, serial=serial))

    try:
        await serve_until_stopped(api.create_app(store), options.listen, start_ingest)
    finally:
        await stop_cron(tasks)
        await ingestor.close()
        store.close()
