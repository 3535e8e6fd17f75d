"""The naive ingest: how a straightforward streaming importer is usually written.

It asks for NDJSON so rows can be written while the body is still arriving, clears the
region, and commits every few rows so readers see new data sooner. It has a generous
timeout and lets the HTTP client and the JSON parser catch broken bodies. It sends the
upstream's own Last-Modified back as If-Modified-Since.

Kept as the reference for what the storm must catch. Its flaws are the realistic doors
for a dishonest upstream (Python HTTP clients do refuse a body shorter than its
Content-Length, but only once the rows before the cut are already committed):
- a stream cut or a bad line leaves the committed part of a snapshot as the snapshot;
- no item count, no minimum: an empty or short catalog replaces a full one;
- a Last-Modified from the future freezes the region on 304s, each one reported as a
  successful check;
- no breaker: a failing upstream is asked again every cycle.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from functools import partial
from typing import Any

import aiohttp

from discovery.ingest.outcome import IngestOutcome, IngestSettings, Outcome
from discovery.store import Store, load_meta

BATCH_ROWS = 10
TIMEOUT_S = 30.0

UPSERT = """
INSERT INTO items (region, id, title, description) VALUES (?, ?, ?, ?)
ON CONFLICT (region, id) DO UPDATE SET title = excluded.title, description = excluded.description
"""


class NaiveIngestor:
    """Streams each region's NDJSON catalog straight into the cache."""

    def __init__(self, store: Store, settings: IngestSettings) -> None:
        self._store = store
        self._url = settings.upstream_url.rstrip("/") + "/catalog"
        self._session: aiohttp.ClientSession | None = None

    async def refresh(self, region: str) -> IngestOutcome:
        """Import `region` once; any exception becomes a failed outcome."""
        started = time.monotonic()
        try:
            outcome = await self._import(region)
        except Exception as exc:  # the cron must keep going whatever happens
            outcome = IngestOutcome(region, Outcome.FAILED, type(exc).__name__, detail=str(exc))
        return dataclasses.replace(outcome, duration_s=time.monotonic() - started)

    async def close(self) -> None:
        """Close the shared session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _import(self, region: str) -> IngestOutcome:
        headers = {"X-Region": region}
        meta = await self._store.read(partial(load_meta, region=region))
        if meta is not None and meta.last_modified:
            headers["If-Modified-Since"] = meta.last_modified

        params = {"region": region, "format": "ndjson"}
        async with self._client().get(self._url, params=params, headers=headers) as response:
            if response.status == 304:
                await self._store.write(partial(_touch, region=region))
                return IngestOutcome(region, Outcome.NOT_MODIFIED)
            response.raise_for_status()

            await self._store.write(partial(_clear, region=region))
            count = 0
            batch: list[dict[str, Any]] = []
            async for line in response.content:
                if not line.strip():
                    continue
                batch.append(json.loads(line))
                if len(batch) == BATCH_ROWS:
                    count += await self._store.write(partial(_insert, region=region, rows=batch))
                    batch = []
            count += await self._store.write(partial(_insert, region=region, rows=batch))

            generation = int(response.headers.get("X-Generation", "0"))
            last_modified = response.headers.get("Last-Modified")
        await self._store.write(
            partial(_finish, region=region, generation=generation, last_modified=last_modified)
        )
        return IngestOutcome(region, Outcome.FETCHED, items=count, generation=generation)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        return self._session


def _clear(conn: sqlite3.Connection, region: str) -> None:
    conn.execute("DELETE FROM items WHERE region = ?", (region,))


def _insert(conn: sqlite3.Connection, region: str, rows: list[dict[str, Any]]) -> int:
    values = [(region, row["id"], row["title"], row.get("description", "")) for row in rows]
    with conn:
        conn.execute("BEGIN")
        conn.executemany(UPSERT, values)
    return len(rows)


def _touch(conn: sqlite3.Connection, region: str) -> None:
    conn.execute("UPDATE snapshots SET checked_at = ? WHERE region = ?", (time.time(), region))


def _finish(
    conn: sqlite3.Connection, region: str, generation: int, last_modified: str | None
) -> None:
    now = time.time()
    count = conn.execute("SELECT count(*) FROM items WHERE region = ?", (region,)).fetchone()[0]
    conn.execute(
        "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
        (region, generation, now, now, last_modified, count),
    )
