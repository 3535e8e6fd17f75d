"""The SQLite + FTS5 cache: atomic per-region swaps and a digest equal to the upstream's."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from discovery.api import QueryError, fts_match
from discovery.catalog import Item, build_catalog, catalog_digest
from discovery.errors import StoreError
from discovery.store import (
    connect,
    load_meta,
    open_store,
    read_region,
    replace_snapshot,
    search_items,
    snapshot_digest,
)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    open_store(tmp_path / "cache.db").close()
    connection = connect(tmp_path / "cache.db")
    yield connection
    connection.close()


def fill(conn: sqlite3.Connection, region: str, generation: int) -> list[Item]:
    items = build_catalog(1, region, generation)
    replace_snapshot(conn, region, items, generation=generation, fetched_at=1.0, last_modified=None)
    return items


def failing_after(items: list[Item], rows: int) -> Iterator[Item]:
    yield from items[:rows]
    raise RuntimeError("ingest died half-way through the swap")


def fts_words_match(conn: sqlite3.Connection, region: str, word: str) -> set[str]:
    return {item["id"] for item in search_items(conn, region, f'"{word}"', 500)}


def test_snapshot_digest_equals_the_catalog_digest(conn: sqlite3.Connection) -> None:
    items = fill(conn, "DE", 4)
    assert snapshot_digest(conn, "DE") == (len(items), catalog_digest(items))


def test_error_in_the_middle_of_a_swap_keeps_the_old_rows(conn: sqlite3.Connection) -> None:
    old = fill(conn, "DE", 1)
    new = build_catalog(1, "DE", 2)

    with pytest.raises(RuntimeError):
        replace_snapshot(
            conn, "DE", failing_after(new, 30), generation=2, fetched_at=2.0, last_modified=None
        )

    assert snapshot_digest(conn, "DE") == (len(old), catalog_digest(old))
    meta = load_meta(conn, "DE")
    assert meta is not None and meta.generation == 1


def test_error_in_the_middle_of_a_swap_keeps_fts_consistent(conn: sqlite3.Connection) -> None:
    old = fill(conn, "DE", 1)
    new = build_catalog(1, "DE", 2)
    with pytest.raises(RuntimeError):
        replace_snapshot(
            conn, "DE", failing_after(new, 30), generation=2, fetched_at=2.0, last_modified=None
        )

    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('integrity-check')")
    expected = {
        item["id"] for item in old if "ocean" in (item["title"] + item["description"]).lower()
    }
    assert fts_words_match(conn, "DE", "ocean") == expected


def test_a_swap_never_touches_another_region(conn: sqlite3.Connection) -> None:
    jp = fill(conn, "JP", 1)
    fill(conn, "DE", 1)
    fill(conn, "DE", 2)
    with pytest.raises(RuntimeError):
        replace_snapshot(
            conn,
            "DE",
            failing_after(build_catalog(1, "DE", 3), 5),
            generation=3,
            fetched_at=3.0,
            last_modified=None,
        )

    assert snapshot_digest(conn, "JP") == (len(jp), catalog_digest(jp))


def test_search_finds_only_the_current_snapshot_of_the_region(conn: sqlite3.Connection) -> None:
    fill(conn, "DE", 1)
    new = fill(conn, "DE", 2)
    fill(conn, "JP", 2)

    view = read_region(conn, "DE", match='"ocean"', limit=500)
    assert view is not None
    expected = {
        item["id"] for item in new if "ocean" in (item["title"] + item["description"]).lower()
    }
    assert {item["id"] for item in view.items} == expected
    assert view.snapshot_items == len(new)


def test_region_without_snapshot_reads_as_none(conn: sqlite3.Connection) -> None:
    assert read_region(conn, "AU") is None


def test_user_text_becomes_quoted_words(conn: sqlite3.Connection) -> None:
    fill(conn, "DE", 1)
    match = fts_match('ocean" OR title:*  NEAR(')
    assert match == '"ocean" "OR" "title" "NEAR"'
    search_items(conn, "DE", match, 50)  # must not be an FTS5 syntax error


def test_query_without_words_is_refused() -> None:
    with pytest.raises(QueryError):
        fts_match('"*^(')


def test_db_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "missing" / "cache.db")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are notes, not a database\n" * 100)
    with pytest.raises(StoreError, match="cannot use it"):
        open_store(path)


def test_reads_are_not_blocked_by_an_open_write_transaction(
    conn: sqlite3.Connection, tmp_path: Path
) -> None:
    items = fill(conn, "DE", 1)
    writer = connect(tmp_path / "cache.db")
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("DELETE FROM items WHERE region = 'DE'")
    try:
        started = time.monotonic()
        view = read_region(conn, "DE")
        assert time.monotonic() - started < 0.5
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert view is not None and view.snapshot_items == len(items)
