"""The per-region breaker stored in SQLite: when it opens, when it closes, what survives."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from discovery.breaker import (
    BreakerPolicy,
    BreakerState,
    admit_stored,
    load_breaker,
    record_stored,
    retry_cooldown_s,
)
from discovery.httpdate import format_http_date
from discovery.store import connect, open_store

POLICY = BreakerPolicy(trip_after=3, cooldown_s=5.0, close_after=2, max_cooldown_s=30.0)
NOW = 1_800_000_000.0


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cache.db"
    open_store(path).close()
    return path


@pytest.fixture
def conn(db: Path) -> Iterator[sqlite3.Connection]:
    connection = connect(db)
    yield connection
    connection.close()


def fail(conn: sqlite3.Connection, times: int, now_s: float, region: str = "DE") -> None:
    for _ in range(times):
        assert admit_stored(conn, region, now_s) is not None
        record_stored(conn, region, ok=False, policy=POLICY, now_s=now_s)


def succeed(conn: sqlite3.Connection, now_s: float, region: str = "DE") -> BreakerState:
    return record_stored(conn, region, ok=True, policy=POLICY, now_s=now_s).state


def test_two_failures_keep_the_breaker_closed(conn: sqlite3.Connection) -> None:
    fail(conn, 2, now_s=100.0)
    assert load_breaker(conn, "DE").state is BreakerState.CLOSED


def test_three_consecutive_failures_open_it_for_the_cooldown(conn: sqlite3.Connection) -> None:
    fail(conn, 3, now_s=100.0)

    assert load_breaker(conn, "DE").state is BreakerState.OPEN
    assert admit_stored(conn, "DE", 104.9) is None


def test_a_success_between_failures_resets_the_count(conn: sqlite3.Connection) -> None:
    fail(conn, 2, now_s=100.0)
    succeed(conn, now_s=100.0)
    fail(conn, 2, now_s=100.0)
    assert load_breaker(conn, "DE").state is BreakerState.CLOSED


def test_open_breaker_survives_reopening_the_database(db: Path) -> None:
    first = connect(db)
    fail(first, 3, now_s=100.0)
    first.close()
    open_store(db).close()

    second = connect(db)
    try:
        assert load_breaker(second, "DE").state is BreakerState.OPEN
        assert admit_stored(second, "DE", 101.0) is None
    finally:
        second.close()


def test_half_open_needs_two_consecutive_successes_to_close(conn: sqlite3.Connection) -> None:
    fail(conn, 3, now_s=100.0)

    admitted = admit_stored(conn, "DE", 105.0)
    assert admitted is not None and admitted.state is BreakerState.HALF_OPEN
    assert succeed(conn, now_s=105.0) is BreakerState.HALF_OPEN
    assert succeed(conn, now_s=106.0) is BreakerState.CLOSED


def test_flapping_upstream_never_closes_a_half_open_breaker(conn: sqlite3.Connection) -> None:
    fail(conn, 3, now_s=100.0)

    now = 100.0
    for _ in range(4):
        now += POLICY.cooldown_s
        assert admit_stored(conn, "DE", now) is not None
        succeed(conn, now_s=now)
        fail_state = record_stored(conn, "DE", ok=False, policy=POLICY, now_s=now).state
        assert fail_state is BreakerState.OPEN


def test_breakers_are_per_region(conn: sqlite3.Connection) -> None:
    fail(conn, 3, now_s=100.0)
    assert admit_stored(conn, "JP", 100.0) is not None
    assert load_breaker(conn, "JP").state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("retry_after", "cooldown_s"),
    [
        ("12", 12.0),
        (format_http_date(NOW + 20), 20.0),
        ("600", 30.0),
        ("4294967296", 30.0),
        ("9" * 40, 30.0),
        (format_http_date(NOW + 86400 * 365), 30.0),
        ("0", 5.0),
        ("-120", 5.0),
        (format_http_date(NOW - 86400), 5.0),
        ("soon", 5.0),
        ("", 5.0),
        (None, 5.0),
    ],
    ids=[
        "seconds",
        "date",
        "long",
        "huge",
        "forty_digits",
        "next_year",
        "zero",
        "negative",
        "past_date",
        "unparsable",
        "empty",
        "missing",
    ],
)
def test_retry_after_is_honoured_within_the_normal_and_the_max_cooldown(
    retry_after: str | None, cooldown_s: float
) -> None:
    assert retry_cooldown_s(retry_after, POLICY, NOW) == pytest.approx(cooldown_s)


def test_a_503_with_retry_after_opens_the_breaker_at_once(conn: sqlite3.Connection) -> None:
    assert admit_stored(conn, "DE", NOW) is not None
    breaker = record_stored(conn, "DE", ok=False, policy=POLICY, now_s=NOW, retry_after="12")

    assert breaker.state is BreakerState.OPEN
    assert breaker.opened_until == NOW + 12
    assert admit_stored(conn, "DE", NOW + 11.9) is None
    assert admit_stored(conn, "DE", NOW + 12) is not None


def test_a_failure_without_retry_after_waits_for_trip_after(conn: sqlite3.Connection) -> None:
    fail(conn, 2, NOW)
    assert load_breaker(conn, "DE").state is BreakerState.CLOSED
