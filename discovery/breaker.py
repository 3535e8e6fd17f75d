"""A per-region circuit breaker whose state lives in the cache database.

    closed --(trip_after consecutive failures)--> open
    open --(cooldown_s elapsed, next attempt)--> half_open
    half_open --(close_after consecutive successes)--> closed
    half_open --(any failure)--> open (a fresh cooldown)

Closing needs two successes in a row, not one: an upstream that alternates 503 and 200
would otherwise close the breaker on every other attempt and look healthy half the time.

A 429 or 503 with Retry-After (RFC 9110 section 10.2.3) opens the breaker at once for
the time the upstream asked, clamped: a negative, past or unreadable value gets the
normal cooldown, and no value holds a region longer than `max_cooldown_s`, so a lying
header can neither make the ingest hammer the upstream nor keep a region from healing.
While open, no upstream request is made at all. Persisting the state means a restarted
service does not hammer an upstream it had just given up on.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from enum import StrEnum

from discovery.httpdate import parse_http_date
from discovery.store import write_transaction


class BreakerState(StrEnum):
    """The three states of a breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and closes."""

    trip_after: int = 3
    cooldown_s: float = 5.0
    close_after: int = 2
    max_cooldown_s: float = 10.0


@dataclass(frozen=True)
class Breaker:
    """One region's breaker at one moment."""

    region: str
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    opened_until: float = 0.0


def admit(breaker: Breaker, now_s: float) -> Breaker | None:
    """Return the breaker to use for an attempt now, or None when no request may be made."""
    if breaker.state is not BreakerState.OPEN:
        return breaker
    if now_s < breaker.opened_until:
        return None
    return dataclasses.replace(breaker, state=BreakerState.HALF_OPEN, consecutive_successes=0)


def record_success(breaker: Breaker, policy: BreakerPolicy) -> Breaker:
    """Return the breaker after a successful attempt."""
    if breaker.state is BreakerState.HALF_OPEN:
        successes = breaker.consecutive_successes + 1
        if successes < policy.close_after:
            return dataclasses.replace(breaker, consecutive_successes=successes)
    return Breaker(region=breaker.region)


def record_failure(
    breaker: Breaker, policy: BreakerPolicy, now_s: float, retry_after: str | None = None
) -> Breaker:
    """Return the breaker after a failed attempt; `retry_after` is the raw header of a
    429 or 503 that sent one, and opens the breaker at once (see `retry_cooldown_s`)."""
    failures = breaker.consecutive_failures + 1
    asked = retry_after is not None
    if asked or breaker.state is BreakerState.HALF_OPEN or failures >= policy.trip_after:
        cooldown_s = retry_cooldown_s(retry_after, policy, now_s) if asked else policy.cooldown_s
        return Breaker(
            region=breaker.region,
            state=BreakerState.OPEN,
            consecutive_failures=failures,
            opened_until=now_s + cooldown_s,
        )
    return dataclasses.replace(breaker, consecutive_failures=failures, consecutive_successes=0)


def retry_cooldown_s(retry_after: str | None, policy: BreakerPolicy, now_s: float) -> float:
    """Seconds to stay open for a Retry-After header: delay-seconds or an HTTP date.

    Anything that is not a delay in the future (negative, zero, a past date, text that
    is neither form) gets the normal cooldown; a longer delay than `max_cooldown_s` is
    cut to it.
    """
    delay_s = _retry_after_delay_s((retry_after or "").strip(), now_s)
    if delay_s is None or not delay_s > 0:
        return policy.cooldown_s
    return min(delay_s, policy.max_cooldown_s)


def _retry_after_delay_s(text: str, now_s: float) -> float | None:
    if text.isascii() and text.isdigit():
        return float(text[:12])  # twelve digits already outlast any cap
    moment = parse_http_date(text)
    return None if moment is None else moment - now_s


def load_breaker(conn: sqlite3.Connection, region: str) -> Breaker:
    """Return `region`'s stored breaker (closed when none is stored yet)."""
    row = conn.execute(
        "SELECT state, consecutive_failures, consecutive_successes, opened_until "
        "FROM breakers WHERE region = ?",
        (region,),
    ).fetchone()
    if row is None:
        return Breaker(region=region)
    return Breaker(region, BreakerState(row[0]), int(row[1]), int(row[2]), float(row[3]))


def save_breaker(conn: sqlite3.Connection, breaker: Breaker) -> None:
    """Store `breaker`, replacing the region's previous state."""
    conn.execute(
        "INSERT OR REPLACE INTO breakers VALUES (?, ?, ?, ?, ?)",
        (
            breaker.region,
            breaker.state.value,
            breaker.consecutive_failures,
            breaker.consecutive_successes,
            breaker.opened_until,
        ),
    )


def admit_stored(conn: sqlite3.Connection, region: str, now_s: float) -> Breaker | None:
    """Load, admit and store `region`'s breaker in one transaction (see `admit`)."""
    with write_transaction(conn):
        admitted = admit(load_breaker(conn, region), now_s)
        if admitted is not None:
            save_breaker(conn, admitted)
    return admitted


def record_stored(
    conn: sqlite3.Connection,
    region: str,
    *,
    ok: bool,
    policy: BreakerPolicy,
    now_s: float,
    retry_after: str | None = None,
) -> Breaker:
    """Record one attempt's result on `region`'s stored breaker in one transaction."""
    with write_transaction(conn):
        breaker = load_breaker(conn, region)
        if ok:
            updated = record_success(breaker, policy)
        else:
            updated = record_failure(breaker, policy, now_s, retry_after)
        save_breaker(conn, updated)
    return updated
