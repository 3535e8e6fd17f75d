"""The naive ingest (every bug on) falls for a cut stream: the bugs the storm must catch."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from discovery.catalog import build_catalog, catalog_digest
from discovery.ingest import BUGS, IngestOutcome, IngestSettings, Outcome, make_ingestor
from discovery.store import open_store, replace_snapshot, snapshot_digest
from tests.discovery.discovery_hostile import NDJSON, Script, Seen, cut, hostile_server, respond

FUTURE = "Wed, 01 Jan 2031 00:00:00 GMT"
GENERATION = 3
ITEMS = build_catalog(1, "DE", GENERATION)
# What the upstream sends beside an NDJSON catalog: it has no envelope to carry them.
HEADERS = {"X-Generation": str(GENERATION), "X-Item-Count": str(len(ITEMS))}


@dataclass
class Run:
    outcomes: list[IngestOutcome]
    seen: Seen
    before: tuple[int, str]
    after: tuple[int, str]


def ndjson() -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in ITEMS)


def run_naive(tmp_path: Path, script: Script, refreshes: int = 1) -> Run:
    return asyncio.run(_run(tmp_path, script, refreshes))


async def _run(tmp_path: Path, script: Script, refreshes: int) -> Run:
    store = open_store(tmp_path / "cache.db")
    try:
        old = build_catalog(1, "DE", 1)
        await store.write(
            lambda conn: replace_snapshot(
                conn, "DE", old, generation=1, fetched_at=time.time(), last_modified=None
            )
        )
        before = await store.read(lambda conn: snapshot_digest(conn, "DE"))
        async with hostile_server(script) as (url, seen):
            ingestor = make_ingestor("naive", store, IngestSettings(upstream_url=url))
            try:
                outcomes = [await ingestor.refresh("DE") for _ in range(refreshes)]
            finally:
                await ingestor.close()
        after = await store.read(lambda conn: snapshot_digest(conn, "DE"))
    finally:
        store.close()
    return Run(outcomes, seen, before, after)


def test_naive_is_the_hardened_ingest_with_every_bug_on(tmp_path: Path) -> None:
    store = open_store(tmp_path / "cache.db")
    try:
        ingestor = make_ingestor("naive", store, IngestSettings(upstream_url="http://127.0.0.1:9"))
        assert ingestor.bugs == frozenset(BUGS)
    finally:
        store.close()


def test_stream_cut_leaves_a_committed_partial_snapshot(tmp_path: Path) -> None:
    run = run_naive(tmp_path, cut(ndjson(), 0.5, end="fin", headers=HEADERS, content_type=NDJSON))

    assert run.outcomes[0].outcome is Outcome.FAILED
    assert 0 < run.after[0] < 40
    assert run.after != run.before


def test_reset_mid_stream_leaves_a_committed_partial_snapshot(tmp_path: Path) -> None:
    run = run_naive(tmp_path, cut(ndjson(), 0.5, end="rst", headers=HEADERS, content_type=NDJSON))

    assert run.outcomes[0].outcome is Outcome.FAILED
    assert 0 < run.after[0] < 40


def test_stream_cut_at_a_line_end_without_length_is_stored_as_complete(tmp_path: Path) -> None:
    body = b"".join(ndjson().splitlines(keepends=True)[:20])
    unframed = cut(body, 1.0, end="fin", promise_full=False, headers=HEADERS, content_type=NDJSON)
    run = run_naive(tmp_path, unframed)

    assert run.outcomes[0].outcome is Outcome.FETCHED
    assert run.after[0] == 20


def test_honest_stream_is_stored_whole(tmp_path: Path) -> None:
    run = run_naive(tmp_path, respond(ndjson(), headers=HEADERS, content_type=NDJSON))

    assert run.outcomes[0].outcome is Outcome.FETCHED
    assert run.after == (len(ITEMS), catalog_digest(ITEMS))


def test_future_last_modified_is_sent_back_as_is(tmp_path: Path) -> None:
    skewed = respond(ndjson(), headers={**HEADERS, "Last-Modified": FUTURE}, content_type=NDJSON)
    run = run_naive(tmp_path, skewed, refreshes=2)

    assert run.seen.header(1, "if-modified-since") == FUTURE
