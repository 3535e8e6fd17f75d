"""/discover keeps encoded answers only while the cache file is unchanged.

A real API server on a free loopback port reads a real SQLite file; another connection
(as the ingest's writer or another process would) changes the file between requests.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from discovery import api
from discovery.catalog import build_catalog
from discovery.store import connect, open_store, replace_snapshot, touch_snapshot

Fetch = Callable[[str], Coroutine[Any, Any, tuple[int, dict[str, Any]]]]


def fill(conn: sqlite3.Connection, region: str, generation: int) -> None:
    items = build_catalog(1, region, generation)
    replace_snapshot(
        conn, region, items, generation=generation, fetched_at=time.time(), last_modified=None
    )


async def serving(db: Path) -> AsyncIterator[Fetch]:
    store = open_store(db)
    runner = web.AppRunner(api.create_app(store))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:

        async def fetch(query: str) -> tuple[int, dict[str, Any]]:
            async with session.get(f"http://127.0.0.1:{port}/discover?{query}") as response:
                return response.status, json.loads(await response.read())

        try:
            yield fetch
        finally:
            await runner.cleanup()
            store.close()


def run(test: Callable[[Fetch], Coroutine[Any, Any, None]], db: Path) -> None:
    async def main() -> None:
        async for fetch in serving(db):
            await test(fetch)

    asyncio.run(main())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cache.db"
    open_store(path).close()
    return path


def test_a_new_snapshot_is_served_at_the_next_request(db: Path) -> None:
    writer = connect(db)
    fill(writer, "DE", 1)

    async def test(fetch: Fetch) -> None:
        first = [await fetch("region=DE") for _ in range(3)]
        assert {body["generation"] for _, body in first} == {1}
        fill(writer, "DE", 2)
        status, body = await fetch("region=DE")
        assert status == 200 and body["generation"] == 2
        assert [item["id"] for item in body["items"]] == [
            item["id"] for item in build_catalog(1, "DE", 2)
        ]

    run(test, db)
    writer.close()


def test_a_search_is_answered_from_the_new_snapshot(db: Path) -> None:
    writer = connect(db)
    fill(writer, "DE", 1)
    word = build_catalog(1, "DE", 1)[0]["title"].split()[0]

    async def test(fetch: Fetch) -> None:
        _, before = await fetch(f"region=DE&q={word}")
        assert before["count"] > 0
        writer.execute("DELETE FROM items WHERE region = 'DE'")
        _, after = await fetch(f"region=DE&q={word}")
        assert after["count"] == 0 and after["snapshot_items"] == 0

    run(test, db)
    writer.close()


def test_the_age_grows_while_the_answer_is_kept(db: Path) -> None:
    writer = connect(db)
    fill(writer, "FR", 1)
    touch_snapshot(writer, "FR", time.time() - 30.0)

    async def test(fetch: Fetch) -> None:
        _, first = await fetch("region=FR")
        await asyncio.sleep(0.3)
        _, second = await fetch("region=FR")
        assert first["generation"] == second["generation"] == 1
        assert 30.0 <= first["age_s"] < second["age_s"] < 31.0
        touch_snapshot(writer, "FR", time.time())
        _, touched = await fetch("region=FR")
        assert touched["age_s"] < 1.0

    run(test, db)
    writer.close()


def test_an_uncommitted_write_is_not_served(db: Path) -> None:
    writer = connect(db)
    fill(writer, "JP", 1)

    async def test(fetch: Fetch) -> None:
        await fetch("region=JP")
        writer.execute("BEGIN EXCLUSIVE")
        writer.execute("DELETE FROM items WHERE region = 'JP'")
        try:
            status, body = await fetch("region=JP")
            assert status == 200 and body["snapshot_items"] == len(build_catalog(1, "JP", 1))
        finally:
            writer.execute("ROLLBACK")
        fill(writer, "JP", 2)
        _, after = await fetch("region=JP")
        assert after["generation"] == 2

    run(test, db)
    writer.close()


def test_kept_answers_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    open_store(path).close()
    cache = api.AnswerCache(path, max_answers=3)
    version = cache.version()
    answer = api.Answer(b"{", b"}", 0.0)
    for word in "abcde":
        cache.put(("DE", word), version, answer)
    kept = [word for word in "abcde" if cache.get(("DE", word), version) is not None]
    assert kept == ["c", "d", "e"]
    cache.close()


@pytest.mark.parametrize(("stored", "shown"), [("abc", "abc"), (1e999, float("inf"))])
def test_a_generation_edited_by_hand_is_still_json(db: Path, stored: object, shown: float) -> None:
    writer = connect(db)
    fill(writer, "DE", 1)
    writer.execute("UPDATE snapshots SET generation = ? WHERE region = 'DE'", (stored,))

    async def test(fetch: Fetch) -> None:
        status, body = await fetch("region=DE")
        assert status == 200 and body["generation"] == shown

    run(test, db)
    writer.close()
