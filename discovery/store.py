"""The cache: SQLite in WAL mode, an FTS5 index over the items, one snapshot per region.

Invariants:
- `replace_snapshot` swaps a region's rows, their FTS entries and its metadata in one
  transaction: readers see the old snapshot or the new one, never a mix, and an error
  half-way leaves the old one whole. Other regions' rows are never touched.
- The FTS5 table uses the items table as external content and triggers keep it in step,
  so every path that writes rows (including the naive ingest) keeps the index consistent.
- WAL lets readers run while a writer holds its lock; writes are short (no network IO
  inside a transaction), so a read never waits behind another region's upstream.

The functions below take a connection and are synchronous; `Store` runs them on worker
threads (one writer, a few readers) so the event loop never waits for SQLite.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from discovery.catalog import Item, catalog_digest
from discovery.errors import StoreError

T = TypeVar("T")

BUSY_TIMEOUT_S = 5.0
READER_THREADS = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    row_id INTEGER PRIMARY KEY,
    region TEXT NOT NULL,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    UNIQUE (region, id)
);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(
    title, description, content='items', content_rowid='row_id'
);
CREATE TRIGGER IF NOT EXISTS items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, title, description)
    VALUES (new.row_id, new.title, new.description);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, description)
    VALUES ('delete', old.row_id, old.title, old.description);
END;
CREATE TRIGGER IF NOT EXISTS items_fts_update AFTER UPDATE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, description)
    VALUES ('delete', old.row_id, old.title, old.description);
    INSERT INTO items_fts (rowid, title, description)
    VALUES (new.row_id, new.title, new.description);
END;
CREATE TABLE IF NOT EXISTS snapshots (
    region TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    fetched_at REAL NOT NULL,
    checked_at REAL NOT NULL,
    last_modified TEXT,
    item_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS breakers (
    region TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    consecutive_successes INTEGER NOT NULL,
    opened_until REAL NOT NULL
);
"""

INSERT_ITEM = "INSERT INTO items (region, id, title, description) VALUES (?, ?, ?, ?)"
SELECT_ITEMS = "SELECT id, title, region, description FROM items WHERE region = ? ORDER BY id"
SEARCH_ITEMS = """
SELECT items.id, items.title, items.region, items.description
FROM items_fts JOIN items ON items.row_id = items_fts.rowid
WHERE items_fts MATCH ? AND items.region = ?
ORDER BY items_fts.rank, items.id
LIMIT ?
"""


@dataclass(frozen=True)
class SnapshotMeta:
    """What the cache knows about a region's snapshot besides its rows."""

    region: str
    generation: int
    fetched_at: float
    checked_at: float
    last_modified: str | None
    item_count: int


@dataclass(frozen=True)
class RegionView:
    """One consistent read of a region: metadata, row count and the selected items."""

    meta: SnapshotMeta
    snapshot_items: int
    items: list[Item]


def connect(path: Path) -> sqlite3.Connection:
    """Open `path` in autocommit mode (transactions are explicit) with the cache's pragmas."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode = WAL")
    # Durable at checkpoints; a power cut may lose the last snapshot, never corrupt one.
    conn.execute("PRAGMA synchronous = NORMAL")
    # REPLACE-style conflict deletes fire the FTS delete trigger only with this on.
    conn.execute("PRAGMA recursive_triggers = ON")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, the FTS5 index and its triggers if they are missing."""
    with write_transaction(conn):
        for statement in _statements(SCHEMA):
            conn.execute(statement)


def _statements(script: str) -> Iterator[str]:
    buffered = ""
    for line in script.splitlines(keepends=True):
        buffered += line
        if sqlite3.complete_statement(buffered):
            yield buffered.strip()
            buffered = ""


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in BEGIN IMMEDIATE ... COMMIT; roll back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # Some errors (disk full, I/O) make SQLite roll back on its own already.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block's SELECTs against one consistent snapshot of the database."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def replace_snapshot(
    conn: sqlite3.Connection,
    region: str,
    items: Iterable[Item],
    *,
    generation: int,
    fetched_at: float,
    last_modified: str | None,
) -> int:
    """Replace `region`'s rows and metadata with `items` atomically; return the row count."""
    with write_transaction(conn):
        conn.execute("DELETE FROM items WHERE region = ?", (region,))
        count = 0
        for item in items:
            conn.execute(INSERT_ITEM, (region, item["id"], item["title"], item["description"]))
            count += 1
        conn.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
            (region, generation, fetched_at, fetched_at, last_modified, count),
        )
    return count


def touch_snapshot(conn: sqlite3.Connection, region: str, checked_at: float) -> bool:
    """Record that the upstream confirmed `region`'s snapshot current; False if none exists."""
    with write_transaction(conn):
        cursor = conn.execute(
            "UPDATE snapshots SET checked_at = ? WHERE region = ?", (checked_at, region)
        )
    return cursor.rowcount == 1


def load_meta(conn: sqlite3.Connection, region: str) -> SnapshotMeta | None:
    """Return `region`'s snapshot metadata, or None before its first snapshot."""
    row = conn.execute(
        "SELECT region, generation, fetched_at, checked_at, last_modified, item_count "
        "FROM snapshots WHERE region = ?",
        (region,),
    ).fetchone()
    return None if row is None else SnapshotMeta(*row)


def count_rows(conn: sqlite3.Connection, region: str) -> int:
    """Return how many item rows `region` has right now."""
    return int(conn.execute("SELECT count(*) FROM items WHERE region = ?", (region,)).fetchone()[0])


def load_items(conn: sqlite3.Connection, region: str) -> list[Item]:
    """Return every cached item of `region`, sorted by id."""
    return [_item(row) for row in conn.execute(SELECT_ITEMS, (region,))]


def search_items(conn: sqlite3.Connection, region: str, match: str, limit: int) -> list[Item]:
    """Return up to `limit` items of `region` matching the FTS5 expression, best first."""
    return [_item(row) for row in conn.execute(SEARCH_ITEMS, (match, region, limit))]


def _item(row: tuple[str, str, str, str]) -> Item:
    return Item(id=row[0], title=row[1], region=row[2], description=row[3])


def read_region(
    conn: sqlite3.Connection, region: str, match: str | None = None, limit: int = 50
) -> RegionView | None:
    """Return one consistent view of `region` (all items, or FTS matches), None if no snapshot."""
    with read_transaction(conn):
        meta = load_meta(conn, region)
        if meta is None:
            return None
        rows = count_rows(conn, region)
        items = (
            load_items(conn, region) if match is None else search_items(conn, region, match, limit)
        )
    return RegionView(meta=meta, snapshot_items=rows, items=items)


def snapshot_digest(conn: sqlite3.Connection, region: str) -> tuple[int, str]:
    """Return (rows, digest) of `region`'s cached rows, digested like the upstream's truth."""
    items = load_items(conn, region)
    return len(items), catalog_digest(items)


class Store:
    """A cache file plus the threads that run its SQLite calls off the event loop.

    One writer thread serialises writes (SQLite allows one writer anyway, and queueing
    here keeps the busy-wait out of SQLite); readers use their own thread-local
    connections and are never blocked by the writer thanks to WAL.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="store-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-write")

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run, work)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the writer thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._run, work)

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return work(conn)

    def close(self) -> None:
        """Finish queued work and close every connection (the last one checkpoints the WAL)."""
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def open_store(path: Path) -> Store:
    """Check `path`, create the schema if needed and return a Store, or raise StoreError."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(f"--db {path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"--db {path}: folder {folder} is not writable; choose another path")
    if path.exists() and not path.is_file():
        raise StoreError(f"--db {path}: not a file; pass a path for the SQLite cache")
    try:
        conn = connect(path)
        try:
            create_schema(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(
            f"--db {path}: cannot use it as the cache ({exc}); pass a new path"
        ) from exc
    return Store(path)
