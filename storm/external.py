"""Snapshots of an external stack's cache, read from its SQLite file.

The storm cannot ask a foreign API for its cache, so it reads the cache's SQLite file
(read-only, so a storm can never change it) with a query that gives one row per region:
the region first, then a value that changes when that region's content changes. The
default is the row count per region; a query that also returns a content digest as a
third column lets the verdict see changes that keep the count.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from common import REGIONS
from storm.errors import StormError

DEFAULT_QUERY = "SELECT region, count(*) FROM videos GROUP BY region"


def read_cache(db_path: str, query: str) -> dict[str, dict[str, Any]]:
    """Run `query` on the SQLite file read-only; one entry per known region it returns."""
    if not Path(db_path).is_file():
        raise StormError(f"--cache-db {db_path}: no such file; give the API's SQLite cache")
    uri = f"{Path(db_path).resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise StormError(f"--cache-db {db_path}: cannot open it ({exc})") from None
    try:
        rows = conn.execute(query).fetchall()
    except sqlite3.Error as exc:
        raise StormError(f"--cache-query {query!r} on {db_path}: {exc}") from None
    finally:
        conn.close()
    return {
        str(row[0]).upper(): entry(row) for row in rows if row and str(row[0]).upper() in REGIONS
    }


def entry(row: tuple[Any, ...]) -> dict[str, Any]:
    """`rows` is the query's value; `digest` fingerprints every column after the region,
    so the verdict sees a change in any of them."""
    if len(row) < 2:
        raise StormError("--cache-query: return the region and a value per row")
    digest = hashlib.sha256(repr(row[1:]).encode()).hexdigest()[:16]
    rows = row[1] if isinstance(row[1], int) else None
    return {"rows": rows, "digest": digest}
