"""Ingest: refresh one region's cached snapshot from the upstream.

`hardened` checks every response before anything is written and keeps a persisted
breaker per region; `naive` is the streaming importer the storm is meant to catch.
"""

from __future__ import annotations

from discovery.ingest.hardened import HardenedIngestor
from discovery.ingest.naive import NaiveIngestor
from discovery.ingest.outcome import Ingestor, IngestOutcome, IngestSettings, Outcome, log_outcome
from discovery.store import Store

INGEST_MODES = ("hardened", "naive")


def make_ingestor(mode: str, store: Store, settings: IngestSettings) -> Ingestor:
    """Return the ingestor named `mode` (one of INGEST_MODES)."""
    if mode == "naive":
        return NaiveIngestor(store, settings)
    if mode == "hardened":
        return HardenedIngestor(store, settings)
    raise ValueError(f"unknown ingest mode {mode!r}: use one of {', '.join(INGEST_MODES)}")


__all__ = [
    "INGEST_MODES",
    "HardenedIngestor",
    "IngestOutcome",
    "IngestSettings",
    "Ingestor",
    "NaiveIngestor",
    "Outcome",
    "log_outcome",
    "make_ingestor",
]
