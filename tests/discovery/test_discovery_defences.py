"""The hardened ingest against every fault kind of the real proxy, in front of the real upstream.

Each lie is told to DE with probability 1. A refused lie leaves the cache exactly as it
was (DE's prefilled snapshot and JP's) and names its reason; the ledger shows the lie
was really told. A reply that is whole and true (complete_then_close, skewed clocks) is
accepted, with its clocks clamped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from discovery.httpdate import format_http_date, parse_http_date
from discovery.ingest import Outcome
from tests.discovery.discovery_faulty import PREFILL_GENERATION, Faulty, Run, run_ingest
from tests.discovery.discovery_http import get

SIX_HOURS_S = 6 * 3600

# (kind, params, ingest settings, reasons): lies the hardened ingest must refuse by name.
# Two reasons where aiohttp's parser meets the lie in one read or in two: stray bytes
# after a short Content-Length are seen as a broken next status line (framing) or not
# yet (the cut last line: json); a bare CRLF for the last chunk raises at once (framing)
# or leaves the reader waiting (deadline).
Case = tuple[str, dict[str, Any], dict[str, Any], str | tuple[str, ...]]
REFUSED: list[Case] = [
    ("truncate", {"end": "fin"}, {}, "incomplete_body"),
    ("truncate", {"end": "rst"}, {}, "incomplete_body"),
    ("lie_length", {"delta_bytes": -32}, {}, "incomplete_body"),
    ("lie_length", {"delta_bytes": 40, "keep_open_ms": 2000}, {}, ("json", "framing")),
    ("chunked_truncate", {"mode": "mid_chunk"}, {}, "incomplete_body"),
    ("chunked_truncate", {"mode": "bare_crlf"}, {}, ("framing", "deadline")),
    ("chunked_truncate", {"mode": "no_final_crlf"}, {}, "incomplete_body"),
    ("unframed_truncate", {"align": "byte"}, {}, "json"),
    ("unframed_truncate", {"align": "line", "keep_fraction": 0.9}, {}, "count"),
    # aiohttp ends a body delimited by the close at a reset as at a FIN.
    ("unframed_truncate", {"end": "rst"}, {}, "json"),
    ("encoding_truncate", {"encoding": "gzip", "keep_fraction": 0.99}, {}, "encoding"),
    ("encoding_truncate", {"encoding": "deflate", "keep_fraction": 0.99}, {}, "encoding"),
    ("wrong_body_type", {"mode": "maintenance"}, {}, "content_type"),
    (
        "wrong_body_type",
        {"mode": "challenge", "content_type": "application/json"},
        {},
        "content_type",
    ),
    ("wrong_body_type", {"content_type": "application/json"}, {"body_format": "json"}, "json"),
    ("valid_garbage", {"mode": "empty"}, {}, "too_few_items"),
    ("valid_garbage", {"mode": "null_ids"}, {}, "item"),
    ("valid_garbage", {"mode": "wrong_types"}, {}, "item"),
    ("valid_garbage", {"mode": "duplicated_items"}, {}, "duplicate_id"),
    ("valid_garbage", {"mode": "shrink"}, {}, "too_few_items"),
    ("valid_garbage", {"mode": "shrink", "keep_fraction": 0.4}, {"min_items": 10}, "shrink"),
    ("valid_garbage", {"mode": "empty"}, {"body_format": "json"}, "too_few_items"),
    ("flap", {}, {}, "status"),
    ("slowloris", {"interval_ms": 20, "max_duration_ms": 4000}, {}, "throughput"),
    ("dribble_then_reset", {"pause_ms": 20}, {}, "incomplete_body"),
]


def refused_id(case: Case) -> str:
    kind, params, limits, _ = case
    return "-".join([kind, *map(str, params.values()), *map(str, limits.values())])


def assert_untouched(run: Run, reason: str | tuple[str, ...]) -> None:
    reasons = (reason,) if isinstance(reason, str) else reason
    assert run.outcome.outcome is Outcome.FAILED, run.outcome
    assert run.outcome.reason in reasons, run.outcome
    assert run.last.cache == run.before
    assert run.last.meta is not None and run.last.meta.generation == PREFILL_GENERATION


@pytest.mark.parametrize("case", REFUSED, ids=map(refused_id, REFUSED))
def test_lie_is_refused_by_name_and_the_cache_stays(
    faulty: Faulty, tmp_path: Path, case: Case
) -> None:
    kind, params, limits, reason = case
    faulty.lie(kind, **params)
    told = len(faulty.rows_of(kind))

    run = run_ingest(tmp_path, faulty.proxy.url, **limits)

    assert_untouched(run, reason)
    assert len(faulty.rows_of(kind)) == told + 1


def test_honest_catalog_through_the_proxy_is_stored(faulty: Faulty, tmp_path: Path) -> None:
    run = run_ingest(tmp_path, faulty.proxy.url)

    assert run.outcome.outcome is Outcome.FETCHED
    assert run.outcome.generation is not None
    assert run.last.cache["DE"] == faulty.truth("DE", run.outcome.generation)
    assert run.last.cache["JP"] == run.before["JP"]


@pytest.mark.parametrize("end", ["fin", "rst"])
def test_complete_reply_then_close_is_accepted(faulty: Faulty, tmp_path: Path, end: str) -> None:
    faulty.lie("complete_then_close", end=end)
    told = len(faulty.rows_of("complete_then_close"))

    run = run_ingest(tmp_path, faulty.proxy.url, refreshes=2)

    # The proxy asks the upstream unconditionally for a body to lie with, so the second
    # refresh is a full 200 closed at once too, read on a new connection.
    for step in run.steps:
        assert step.outcome.outcome is Outcome.FETCHED, step.outcome
        assert step.outcome.generation is not None
        assert step.cache["DE"] == faulty.truth("DE", step.outcome.generation)
        assert step.cache["JP"] == run.before["JP"]
        assert step.breaker.state == "closed"
    assert len(faulty.rows_of("complete_then_close")) == told + 2


def test_connection_left_with_stray_bytes_never_serves_the_next_request(
    faulty: Faulty, tmp_path: Path
) -> None:
    faulty.lie("lie_length", delta_bytes=40, keep_open_ms=3000)
    told = len(faulty.rows_of("lie_length"))

    run = run_ingest(tmp_path, faulty.proxy.url, refreshes=2, between=lambda _: faulty.honest())

    first, second = run.steps
    assert first.outcome.reason in ("json", "framing"), first.outcome
    assert second.outcome.outcome is Outcome.FETCHED, second.outcome
    row = wait_for_rows(faulty, "lie_length", told + 1)[-1]
    assert row["end"] != "reused", row


def wait_for_rows(faulty: Faulty, kind: str, count: int) -> list[dict[str, str]]:
    """The ledger rows of `kind` once there are `count` (a held fault writes its row last)."""
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline:
        rows = faulty.rows_of(kind)
        if len(rows) >= count:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} {kind} rows in the ledger")


# (status, mode, cooldown the breaker must use): run with cooldown_s 1 and max_cooldown_s 3.
RETRY_AFTER = [
    (503, "negative", 1.0),
    (503, "past_date", 1.0),
    (429, "unparsable", 1.0),
    (503, "huge", 3.0),
    (429, "huge", 3.0),
]


@pytest.mark.parametrize(("status", "mode", "cooldown_s"), RETRY_AFTER)
def test_lying_retry_after_opens_the_breaker_for_a_clamped_time(
    faulty: Faulty, tmp_path: Path, status: int, mode: str, cooldown_s: float
) -> None:
    faulty.lie("retry_after_lie", status=status, mode=mode)
    told = len(faulty.rows_of("retry_after_lie"))
    started = time.time()

    run = run_ingest(tmp_path, faulty.proxy.url, refreshes=3, cooldown_s=1.0, max_cooldown_s=3.0)

    first = run.steps[0]
    assert (first.outcome.outcome, first.outcome.reason) == (Outcome.FAILED, "status")
    assert run.last.cache == run.before
    assert first.breaker.state == "open"
    assert started + cooldown_s <= first.breaker.opened_until <= time.time() + cooldown_s
    # No hot loop: while the breaker is open no request is made at all.
    assert [step.outcome.outcome for step in run.steps[1:]] == [Outcome.SKIPPED] * 2
    assert len(faulty.rows_of("retry_after_lie")) == told + 1


def test_upstream_answers_a_future_if_modified_since_with_304_every_generation(
    ticking: Faulty,
) -> None:
    future = format_http_date(time.time() + SIX_HOURS_S)
    url = f"{ticking.upstream.url}/catalog?region=DE&format=ndjson"

    first = get(url, headers={"If-Modified-Since": future})
    time.sleep(1.2)
    later = get(url, headers={"If-Modified-Since": future})
    fresh = get(url)

    assert (first.status, later.status) == (304, 304)
    assert int(later.headers["X-Generation"]) > int(first.headers["X-Generation"])
    assert fresh.status == 200


# clock_skew params: Date and Last-Modified ahead, Last-Modified alone ahead of a true Date.
AHEAD = [
    {"offset_s": SIX_HOURS_S},
    {"mode": "modified_after_date", "offset_s": SIX_HOURS_S},
    {"offset_s": 3 * 365 * 86400, "headers": ["Last-Modified"]},
]


@pytest.mark.parametrize("params", AHEAD, ids=["shift", "modified_after_date", "years"])
def test_future_last_modified_is_clamped_and_the_region_keeps_refreshing(
    ticking: Faulty, tmp_path: Path, params: dict[str, Any]
) -> None:
    ticking.lie("clock_skew", **params)

    run = run_ingest(tmp_path, ticking.proxy.url, refreshes=2, pause_s=1.2)

    first, second = run.steps
    assert first.outcome.outcome is Outcome.FETCHED, first.outcome
    assert first.outcome.detail == "clock_clamped"
    assert first.meta is not None
    stored = parse_http_date(first.meta.last_modified)
    assert stored is not None and stored < time.time()
    assert first.meta.checked_at <= time.time()
    assert second.outcome.outcome is Outcome.FETCHED, second.outcome
    assert second.outcome.generation is not None and first.outcome.generation is not None
    assert second.outcome.generation > first.outcome.generation
    assert second.cache["DE"] == ticking.truth("DE", second.outcome.generation)


BEHIND = [{"offset_s": -SIX_HOURS_S}, {"offset_s": -SIX_HOURS_S, "headers": ["Date"]}]


@pytest.mark.parametrize("params", BEHIND, ids=["shift", "date_only"])
def test_clocks_behind_cost_a_full_fetch_never_freshness(
    ticking: Faulty, tmp_path: Path, params: dict[str, Any]
) -> None:
    ticking.lie("clock_skew", **params)

    run = run_ingest(tmp_path, ticking.proxy.url, refreshes=2, pause_s=1.2)

    first, second = run.steps
    assert [first.outcome.outcome, second.outcome.outcome] == [Outcome.FETCHED] * 2
    assert second.outcome.generation is not None and first.outcome.generation is not None
    assert second.outcome.generation > first.outcome.generation
    assert second.cache["DE"] == ticking.truth("DE", second.outcome.generation)
    assert second.meta is not None
    assert abs(second.meta.checked_at - time.time()) < 5
