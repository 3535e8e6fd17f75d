"""The discovery read API: `/discover`, `/snapshot` and `/health` over the cache.

Every response is built from one read transaction, so it describes exactly one snapshot
of its region. Reads run on the store's reader threads and never wait for ingest.
"""

from __future__ import annotations

import re
import sqlite3
import time
from functools import partial

from aiohttp import web

from common.regions import REGIONS, RegionError, parse_region
from discovery.breaker import load_breaker
from discovery.store import Store, load_meta, read_region, read_transaction, snapshot_digest

SEARCH_LIMIT = 50
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 10
WORD = re.compile(r"\w+")

STORE = web.AppKey("store", Store)


class QueryError(ValueError):
    """A `q` parameter that cannot be turned into a search."""


def create_app(store: Store) -> web.Application:
    """Return the API application reading from `store`."""
    app = web.Application()
    app[STORE] = store
    app.router.add_get("/discover", handle_discover)
    app.router.add_get("/snapshot", handle_snapshot)
    app.router.add_get("/health", handle_health)
    return app


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

    view = await request.app[STORE].read(
        partial(read_region, region=region, match=match, limit=SEARCH_LIMIT)
    )
    if view is None:
        return error_response(503, f"region {region} has no snapshot yet; retry shortly")
    return web.json_response(
        {
            "region": region,
            "generation": view.meta.generation,
            "age_s": round(max(0.0, time.time() - view.meta.checked_at), 3),
            "snapshot_items": view.snapshot_items,
            "count": len(view.items),
            "items": view.items,
        }
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
