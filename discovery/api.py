"""The discovery read API: `/discover`, `/snapshot` and `/health` over the cache.

Every response is built from one read transaction, so it describes exactly one snapshot
of its region. Reads run on the store's reader threads and never wait for ingest.
`/discover` keeps each answer's encoded items until the cache file changes (see
`AnswerCache`), so a read-heavy load reads SQLite once per change, not once per request.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from aiohttp import web

from common.regions import REGIONS, RegionError, parse_region
from discovery.breaker import load_breaker
from discovery.store import (
    RegionView,
    Store,
    load_meta,
    read_region,
    read_transaction,
    snapshot_digest,
)

SEARCH_LIMIT = 50
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 10
WORD = re.compile(r"\w+")
MAX_KEPT_ANSWERS = 512

STORE = web.AppKey("store", Store)


@dataclass(frozen=True)
class Answer:
    """A `/discover` body around its age: `head` + age in seconds + `tail`, encoded."""

    head: bytes
    tail: bytes
    checked_at: float

    def body(self, now_s: float) -> bytes:
        """Return the whole JSON body with the snapshot's age at `now_s`."""
        age_s = round(max(0.0, now_s - self.checked_at), 3)
        return b"".join((self.head, json.dumps(age_s).encode(), self.tail))


def encode_answer(region: str, view: RegionView) -> Answer:
    """Encode `view` as `/discover` answers it, leaving the age to fill in per response."""
    # Every value goes through json.dumps, as json_response would: a cache file edited by
    # hand can hold a generation that is text or a float.
    head = (
        f'{{"region": {json.dumps(region)}, "generation": {json.dumps(view.meta.generation)}, '
        '"age_s": '
    )
    tail = (
        f', "snapshot_items": {json.dumps(view.snapshot_items)}, "count": {len(view.items)}, '
        f'"items": {json.dumps(view.items)}}}'
    )
    return Answer(head.encode(), tail.encode(), view.meta.checked_at)


class AnswerCache:
    """Encoded `/discover` answers, valid while the cache file is unchanged.

    SQLite's `PRAGMA data_version`, asked on a connection of the event loop's own, changes
    whenever any other connection (the ingest's writer, another process) commits; every
    kept answer is dropped then. An answer is kept under the version seen before its read
    began, so a commit that lands during the read only makes the next request read again.
    When the version cannot be read at once (the file is locked), nothing is kept or used.
    """

    def __init__(self, path: Path, max_answers: int = MAX_KEPT_ANSWERS) -> None:
        self._conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        self._max_answers = max_answers
        self._version: int | None = None
        self._answers: dict[tuple[str, str | None], Answer] = {}

    def version(self) -> int | None:
        """Return the cache file's current data version, None when it cannot be read now."""
        try:
            version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            return None
        if version != self._version:
            self._answers.clear()
            self._version = version
        return version

    def get(self, key: tuple[str, str | None], version: int | None) -> Answer | None:
        """Return the answer kept for `key`, if it is still the cache file's."""
        if version is None or version != self._version:
            return None
        return self._answers.get(key)

    def put(self, key: tuple[str, str | None], version: int | None, answer: Answer) -> None:
        """Keep `answer` for `key` if the file is still at `version` (oldest out when full)."""
        if version is None or version != self._version:
            return
        if len(self._answers) >= self._max_answers:
            del self._answers[next(iter(self._answers))]
        self._answers[key] = answer

    def close(self) -> None:
        """Close the version connection."""
        self._conn.close()


ANSWERS = web.AppKey("answers", AnswerCache)


class QueryError(ValueError):
    """A `q` parameter that cannot be turned into a search."""


def create_app(store: Store) -> web.Application:
    """Return the API application reading from `store`."""
    app = web.Application()
    app[STORE] = store
    app[ANSWERS] = AnswerCache(store.path)
    app.on_cleanup.append(_close_answers)
    app.router.add_get("/discover", handle_discover)
    app.router.add_get("/snapshot", handle_snapshot)
    app.router.add_get("/health", handle_health)
    return app


async def _close_answers(app: web.Application) -> None:
    app[ANSWERS].close()


def error_response(status: int, message: str) -> web.Response:
    """Return `{"error": message}` with `status`."""
    return web.json_response({"error": message}, status=status)


def fts_match(query: str) -> str:
    """Turn user text into an FTS5 expression that can never be an FTS5 syntax error.

    Only word characters survive and each word is a quoted string, so operators, column
    filters and stray quotes in user text are plain words or nothing (all words must match).
    """
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"q is longer than {MAX_QUERY_CHARS} characters")
    words = WORD.findall(query)
    if not words:
        raise QueryError(f"q {query!r} has no words to search for")
    if len(words) > MAX_QUERY_WORDS:
        raise QueryError(f"q has more than {MAX_QUERY_WORDS} words")
    return " ".join(f'"{word}"' for word in words)


async def handle_discover(request: web.Request) -> web.Response:
    """GET /discover?region=DE[&q=words]: the region's snapshot, or the best matches in it."""
    text = request.query.get("region")
    if not text:
        return error_response(400, "region missing: use /discover?region=DE")
    try:
        region = parse_region(text)
        match = fts_match(request.query["q"]) if "q" in request.query else None
    except RegionError as exc:
        return error_response(404, str(exc))
    except QueryError as exc:
        return error_response(400, str(exc))

    answers = request.app[ANSWERS]
    key = (region, match)
    version = answers.version()
    answer = answers.get(key, version)
    if answer is None:
        view = await request.app[STORE].read(
            partial(read_region, region=region, match=match, limit=SEARCH_LIMIT)
        )
        if view is None:
            return error_response(503, f"region {region} has no snapshot yet; retry shortly")
        answer = encode_answer(region, view)
        answers.put(key, version, answer)
    return web.Response(
        body=answer.body(time.time()), content_type="application/json", charset="utf-8"
    )


async def handle_snapshot(request: web.Request) -> web.Response:
    """GET /snapshot: every region's rows, digest, generation, times and breaker state."""
    report = await request.app[STORE].read(snapshot_report)
    return web.json_response(report)


def snapshot_report(conn: sqlite3.Connection) -> dict[str, object]:
    """Describe every region's cached snapshot, all from one read transaction."""
    regions: dict[str, object] = {}
    with read_transaction(conn):
        taken_at = time.time()
        for region in REGIONS:
            meta = load_meta(conn, region)
            rows, digest = snapshot_digest(conn, region)
            regions[region] = {
                "rows": rows,
                "digest": digest,
                "generation": None if meta is None else meta.generation,
                "fetched_at": None if meta is None else meta.fetched_at,
                "checked_at": None if meta is None else meta.checked_at,
                "breaker": load_breaker(conn, region).state.value,
            }
    return {"taken_at": taken_at, "regions": regions}


async def handle_health(request: web.Request) -> web.Response:
    """GET /health: ok, and warm once every region has a snapshot."""
    warm = await request.app[STORE].read(all_regions_cached)
    return web.json_response({"ok": True, "warm": warm})


def all_regions_cached(conn: sqlite3.Connection) -> bool:
    """Return whether every region has snapshot metadata."""
    cached = {row[0] for row in conn.execute("SELECT region FROM snapshots")}
    return cached.issuperset(REGIONS)
