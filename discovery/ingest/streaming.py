"""Cache writes of the stream_commit bug: rows land while the body is still arriving.

This is how a streaming importer is usually written: clear the region, then commit
every few rows so that readers see new data sooner. Each call commits on its own, so
readers see the region empty, then growing, and a stream that breaks leaves whatever
was committed as the region's rows. The snapshot's metadata is written only at the
end, so a broken stream also leaves rows that no longer match it.
"""

from __future__ import annotations

import sqlite3

from discovery.catalog import Item
from discovery.store import Store

BATCH_ROWS = 10

UPSERT = """
INSERT INTO items (region, id, title, description) VALUES (?, ?, ?, ?)
ON CONFLICT (region, id) DO UPDATE SET title = excluded.title, description = excluded.description
"""


class StreamingWriter:
    """Commits `region`'s rows in batches of BATCH_ROWS as they are added."""

    def __init__(self, store: Store, region: str) -> None:
        self._store = store
        self._region = region
        self._batch: list[Item] = []
        self.count = 0

    async def clear(self) -> None:
        """Delete the region's rows (committed at once)."""
        await self._store.write(lambda conn: clear_rows(conn, self._region))

    async def add(self, item: Item) -> None:
        """Queue `item`; commit the batch once it is full."""
        self._batch.append(item)
        if len(self._batch) >= BATCH_ROWS:
            await self.flush()

    async def flush(self) -> None:
        """Commit the queued rows."""
        rows, self._batch = self._batch, []
        if rows:
            self.count += await self._store.write(
                lambda conn: insert_rows(conn, self._region, rows)
            )


def clear_rows(conn: sqlite3.Connection, region: str) -> None:
    """Delete `region`'s rows in autocommit mode."""
    conn.execute("DELETE FROM items WHERE region = ?", (region,))


def insert_rows(conn: sqlite3.Connection, region: str, rows: list[Item]) -> int:
    """Insert or update `rows` of `region` in one transaction; return how many."""
    values = [(region, row["id"], row["title"], row["description"]) for row in rows]
    with conn:
        conn.execute("BEGIN")
        conn.executemany(UPSERT, values)
    return len(rows)


def finish_snapshot(
    conn: sqlite3.Connection,
    region: str,
    generation: int,
    fetched_at: float,
    last_modified: str | None,
) -> int:
    """Write `region`'s snapshot metadata for the rows now stored; return their count."""
    count = int(
        conn.execute("SELECT count(*) FROM items WHERE region = ?", (region,)).fetchone()[0]
    )
    conn.execute(
        "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
        (region, generation, fetched_at, fetched_at, last_modified, count),
    )
    return count
