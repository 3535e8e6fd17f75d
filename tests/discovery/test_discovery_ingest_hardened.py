"""The hardened ingest against real sockets that lie: each defence on its own.

Every test starts from a cache holding a good DE and JP snapshot and asserts the reason
the attempt was refused and that both snapshots are still exactly what they were.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discovery.breaker import load_breaker
from discovery.catalog import build_catalog, catalog_digest
from discovery.httpdate import parse_http_date
from discovery.ingest import HardenedIngestor, IngestOutcome, IngestSettings, Outcome
from discovery.store import SnapshotMeta, load_meta, open_store, replace_snapshot, snapshot_digest
from tests.discovery.discovery_hostile import (
    Script,
    Seen,
    catalog_document,
    cut,
    encode,
    gzip_without_trailer,
    hostile_server,
    respond,
    sequence,
    trickle,
)

PREFILL_GENERATION = 1
PREFILL_VALIDATOR = "Thu, 01 Jan 2026 00:00:00 GMT"
FUTURE = "Wed, 01 Jan 2031 00:00:00 GMT"


@dataclass
class Run:
    outcomes: list[IngestOutcome]
    durations_s: list[float]
    seen: Seen
    before: dict[str, tuple[int, str]]
    after: dict[str, tuple[int, str]]
    meta: SnapshotMeta | None
    breaker_states: list[str]

    @property
    def outcome(self) -> IngestOutcome:
        return self.outcomes[-1]


def run_hardened(
    tmp_path: Path, script: Script, refreshes: int = 1, pause_s: float = 0.0, **limits: Any
) -> Run:
    """Prefill DE and JP, refresh DE `refreshes` times against `script`, report."""
    return asyncio.run(_run(tmp_path, script, refreshes, pause_s, limits))


async def _run(
    tmp_path: Path, script: Script, refreshes: int, pause_s: float, limits: dict[str, Any]
) -> Run:
    store = open_store(tmp_path / "cache.db")
    try:
        for region in ("DE", "JP"):
            await store.write(
                lambda conn, region=region: replace_snapshot(
                    conn,
                    region,
                    build_catalog(1, region, PREFILL_GENERATION),
                    generation=PREFILL_GENERATION,
                    fetched_at=time.time() - 60,
                    last_modified=PREFILL_VALIDATOR,
                )
            )
        before = {r: await store.read(lambda c, r=r: snapshot_digest(c, r)) for r in ("DE", "JP")}
        outcomes, durations, states = [], [], []
        async with hostile_server(script) as (url, seen):
            settings = IngestSettings(upstream_url=url, body_format="json", **limits)
            ingestor = HardenedIngestor(store, settings)
            try:
                for number in range(refreshes):
                    if number:
                        await asyncio.sleep(pause_s)
                    started = time.monotonic()
                    outcomes.append(await ingestor.refresh("DE"))
                    durations.append(time.monotonic() - started)
                    breaker = await store.read(lambda conn: load_breaker(conn, "DE"))
                    states.append(breaker.state.value)
            finally:
                await ingestor.close()
        after = {r: await store.read(lambda c, r=r: snapshot_digest(c, r)) for r in ("DE", "JP")}
        meta = await store.read(lambda conn: load_meta(conn, "DE"))
    finally:
        store.close()
    return Run(outcomes, durations, seen, before, after, meta, states)


def assert_refused(run: Run, reason: str) -> None:
    assert run.outcome.outcome is Outcome.FAILED, run.outcome
    assert run.outcome.reason == reason, run.outcome
    assert run.after == run.before
    assert run.meta is not None and run.meta.generation == PREFILL_GENERATION


def tampered(**changes: Any) -> bytes:
    document = catalog_document()
    document.update(changes)
    return encode(document)


def test_honest_catalog_replaces_the_snapshot(tmp_path: Path) -> None:
    document = catalog_document()
    run = run_hardened(tmp_path, respond(encode(document)))

    assert run.outcome.outcome is Outcome.FETCHED
    assert run.after["DE"] == (len(document["items"]), catalog_digest(document["items"]))
    assert run.after["JP"] == run.before["JP"]
    assert run.meta is not None and run.meta.generation == document["generation"]


def test_request_names_its_region_in_header_and_query(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, respond(encode(catalog_document())))

    assert run.seen.header(0, "x-region") == "DE"
    assert "region=DE" in str(run.seen.header(0, ":request"))


def test_short_body_then_fin_is_refused(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, cut(encode(catalog_document()), 0.5, end="fin"))
    assert_refused(run, "incomplete_body")


def test_reset_mid_body_is_refused(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, cut(encode(catalog_document()), 0.5, end="rst"))
    assert_refused(run, "incomplete_body")


def test_body_cut_without_length_framing_is_refused_as_json(tmp_path: Path) -> None:
    body = encode(catalog_document())
    run = run_hardened(tmp_path, cut(body, 0.6, end="fin", promise_full=False))
    assert_refused(run, "json")


def test_gzip_body_missing_its_trailer_is_refused(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, gzip_without_trailer(encode(catalog_document())))
    assert_refused(run, "encoding")


def test_trickle_past_the_deadline_is_cut_at_the_deadline(tmp_path: Path) -> None:
    body = encode(catalog_document())
    run = run_hardened(tmp_path, trickle(body, 20, 4.0), deadline_s=1.0, min_bytes_per_s=1.0)

    assert_refused(run, "deadline")
    assert run.durations_s[0] < 1.8


def test_slow_trickle_under_the_deadline_fails_throughput(tmp_path: Path) -> None:
    body = encode(catalog_document())
    run = run_hardened(tmp_path, trickle(body, 10, 2.0), deadline_s=5.0, min_bytes_per_s=8192.0)

    assert_refused(run, "throughput")
    assert run.durations_s[0] < 1.8


def test_empty_items_are_refused(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, respond(tampered(items=[], item_count=0)))
    assert_refused(run, "too_few_items")


def test_too_few_items_are_refused(tmp_path: Path) -> None:
    items = catalog_document()["items"][:10]
    run = run_hardened(tmp_path, respond(tampered(items=items, item_count=10)))
    assert_refused(run, "too_few_items")


def test_item_count_disagreeing_with_items_is_refused(tmp_path: Path) -> None:
    items = catalog_document()["items"]
    run = run_hardened(tmp_path, respond(tampered(items=items[:-1], item_count=len(items))))
    assert_refused(run, "count")


def test_x_item_count_header_disagreeing_with_items_is_refused(tmp_path: Path) -> None:
    body = encode(catalog_document())
    run = run_hardened(tmp_path, respond(body, headers={"X-Item-Count": "999"}))
    assert_refused(run, "count")


def test_null_ids_are_refused(tmp_path: Path) -> None:
    items = catalog_document()["items"]
    items[7]["id"] = None
    run = run_hardened(tmp_path, respond(tampered(items=items)))
    assert_refused(run, "item")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    items = catalog_document()["items"]
    items[3]["id"] = items[4]["id"]
    run = run_hardened(tmp_path, respond(tampered(items=items)))
    assert_refused(run, "duplicate_id")


def test_another_regions_catalog_is_refused(tmp_path: Path) -> None:
    run = run_hardened(tmp_path, respond(encode(catalog_document(region="JP"))))
    assert_refused(run, "region")


def test_an_item_of_another_region_is_refused(tmp_path: Path) -> None:
    items = catalog_document()["items"]
    items[0]["region"] = "JP"
    run = run_hardened(tmp_path, respond(tampered(items=items)))
    assert_refused(run, "region")


def test_garbage_that_parses_is_refused(tmp_path: Path) -> None:
    body = encode({"items": [], "region": "DE", "injected": True})
    run = run_hardened(tmp_path, respond(body))
    assert_refused(run, "shape")


def test_future_last_modified_is_clamped_before_it_is_stored(tmp_path: Path) -> None:
    body = encode(catalog_document())
    skewed = respond(body, headers={"Last-Modified": FUTURE, "Date": FUTURE})
    run = run_hardened(tmp_path, skewed, refreshes=2)

    assert run.outcomes[0].outcome is Outcome.FETCHED
    assert run.outcomes[0].detail == "clock_clamped"
    assert run.meta is not None
    stored = parse_http_date(run.meta.last_modified)
    assert stored is not None and stored <= time.time()
    sent = parse_http_date(run.seen.header(1, "if-modified-since"))
    assert sent is not None and sent <= time.time()


def test_not_modified_refreshes_checked_at_only(tmp_path: Path) -> None:
    not_modified = sequence(respond(b"", status=304))
    run = run_hardened(tmp_path, not_modified)

    assert run.seen.header(0, "if-modified-since") == PREFILL_VALIDATOR
    assert run.outcome.outcome is Outcome.NOT_MODIFIED
    assert run.after == run.before
    assert run.meta is not None
    assert run.meta.generation == PREFILL_GENERATION
    assert run.meta.checked_at - run.meta.fetched_at > 30


def test_503_three_times_opens_the_breaker_and_two_200s_close_it(tmp_path: Path) -> None:
    unavailable = respond(b'{"error": "busy"}', status=503)
    honest = respond(encode(catalog_document()))
    script = sequence(unavailable, unavailable, unavailable, honest)
    run = run_hardened(tmp_path, script, refreshes=4, trip_after=3, cooldown_s=0.6)

    assert [o.reason for o in run.outcomes] == ["status", "status", "status", "breaker_open"]
    assert len(run.seen.heads) == 3
    assert run.breaker_states == ["closed", "closed", "open", "open"]


def test_breaker_after_cooldown_needs_a_second_success_to_close(tmp_path: Path) -> None:
    unavailable = respond(b'{"error": "busy"}', status=503)
    honest = respond(encode(catalog_document()))
    script = sequence(unavailable, unavailable, unavailable, honest)
    run = run_hardened(tmp_path, script, refreshes=5, pause_s=0.35, trip_after=3, cooldown_s=0.3)

    outcomes = [o.outcome for o in run.outcomes]
    assert outcomes == [Outcome.FAILED] * 3 + [Outcome.FETCHED] * 2
    assert run.breaker_states[3:] == ["half_open", "closed"]
