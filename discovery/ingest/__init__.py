"""Ingest: refresh one region's cached snapshot from the upstream.

`hardened` checks every response before anything is written and keeps a persisted
breaker per region; named bugs (discovery.ingest.bugs) switch its defences off one by
one, and `naive` is the hardened ingest with every bug on: the importer the storm is
meant to catch.
"""

from __future__ import annotations

from collections.abc import Iterable

from discovery.ingest.bugs import BUGS, UnknownBugError, parse_bugs
from discovery.ingest.hardened import HardenedIngestor
from discovery.ingest.outcome import Ingestor, IngestOutcome, IngestSettings, Outcome, log_outcome
from discovery.store import Store

INGEST_MODES = ("hardened", "naive")


def mode_bugs(mode: str, bugs: Iterable[str] = ()) -> frozenset[str]:
    """The bugs an ingest of `mode` runs with: every bug for naive, else `bugs`."""
    if mode not in INGEST_MODES:
        raise ValueError(f"unknown ingest mode {mode!r}: use one of {', '.join(INGEST_MODES)}")
    return frozenset(BUGS) if mode == "naive" else frozenset(bugs)


def make_ingestor(
    mode: str, store: Store, settings: IngestSettings, bugs: Iterable[str] = ()
) -> HardenedIngestor:
    """Return the ingestor named `mode` (one of INGEST_MODES) with `bugs` switched on."""
    return HardenedIngestor(store, settings, mode_bugs(mode, bugs))


__all__ = [
    "BUGS",
    "INGEST_MODES",
    "HardenedIngestor",
    "IngestOutcome",
    "IngestSettings",
    "Ingestor",
    "Outcome",
    "UnknownBugError",
    "log_outcome",
    "make_ingestor",
    "mode_bugs",
    "parse_bugs",
]
