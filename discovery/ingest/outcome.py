"""What every ingest variant shares: its settings, its outcome record and its interface."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

logger = logging.getLogger("discovery.ingest")


class Outcome(StrEnum):
    """How one refresh of one region ended."""

    FETCHED = "fetched"  # a full catalog was stored
    NOT_MODIFIED = "not_modified"  # the upstream confirmed the snapshot current (304)
    FAILED = "failed"  # the attempt was refused; the previous snapshot stays
    SKIPPED = "skipped"  # the breaker is open: no request was made


@dataclass(frozen=True)
class IngestSettings:
    """Limits of one ingest attempt, with their units in their names."""

    upstream_url: str
    # "ndjson" or "json": the catalog format asked for (stream_commit always asks NDJSON).
    body_format: str = "ndjson"
    deadline_s: float = 3.0
    min_items: int = 50
    # A catalog under this share of the region's last snapshot is refused; 0: no check.
    shrink_floor: float = 0.5
    min_bytes_per_s: float = 8192.0
    throughput_grace_s: float = 0.5
    trip_after: int = 3
    cooldown_s: float = 5.0
    # The longest a Retry-After keeps a region's breaker open.
    max_cooldown_s: float = 10.0


@dataclass(frozen=True)
class IngestOutcome:
    """The result of one refresh, as logged once and as tests inspect it."""

    region: str
    outcome: Outcome
    reason: str = ""
    duration_s: float = 0.0
    items: int = 0
    generation: int | None = None
    detail: str = ""


class Ingestor(Protocol):
    """Refreshes one region's snapshot from the upstream per call."""

    async def refresh(self, region: str) -> IngestOutcome:
        """Fetch, check and store `region` once; never raises for upstream trouble."""
        ...

    async def close(self) -> None:
        """Release network resources."""
        ...


def log_outcome(outcome: IngestOutcome) -> None:
    """Write the one INFO line every ingest outcome gets."""
    logger.info(
        "ingest region=%s outcome=%s reason=%s duration_ms=%.0f items=%d generation=%s detail=%s",
        outcome.region,
        outcome.outcome.value,
        outcome.reason or "-",
        outcome.duration_s * 1000,
        outcome.items,
        "-" if outcome.generation is None else outcome.generation,
        shown_detail(outcome.detail),
    )


# A detail may quote what an upstream sent; a log line stays one short line whatever it was.
MAX_DETAIL_CHARS = 300


def shown_detail(detail: str) -> str:
    """`detail` on one line, cut to MAX_DETAIL_CHARS with a mark of how much was cut."""
    if not detail:
        return "-"
    line = detail.replace("\r", "\\r").replace("\n", "\\n")
    if len(line) <= MAX_DETAIL_CHARS:
        return line
    return f"{line[:MAX_DETAIL_CHARS]}... ({len(line) - MAX_DETAIL_CHARS} more chars)"
