"""The exception tree of the discovery package.

Library errors (sqlite3, aiohttp, OSError) are mapped onto these once, at the edge where
they happen, and re-raised with their cause.
"""

from __future__ import annotations


class DiscoveryError(Exception):
    """Base of every error the discovery package raises on purpose."""


class UsageError(DiscoveryError):
    """A bad option or input: the message is one line that says what to change (exit 2)."""


class StoreError(DiscoveryError):
    """The cache database cannot be opened or written."""


class IngestError(DiscoveryError):
    """An upstream response failed one named check; the cache was left untouched.

    `reason` is a short stable name (for example `length` or `too_few_items`) that logs,
    snapshots and tests can match on; `detail` is the human explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StatusError(IngestError):
    """The upstream answered another status than 200 (or 304).

    `retry_after` is the raw Retry-After header of a 429 or 503, None otherwise; the
    breaker decides what to make of it.
    """

    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__("status", f"upstream answered HTTP {status}")
        self.status = status
        self.retry_after = retry_after
