"""The eight regions a storm loads, and the one way to turn user text into a region."""

from __future__ import annotations

REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "JP", "KR", "BR", "AU")
# A refused name is echoed with repr() and cut to this many characters: one short line.
MAX_SHOWN_NAME = 40


class RegionError(ValueError):
    """A region name that is not one of REGIONS."""


def parse_region(text: str) -> str:
    """Return the canonical region for `text` (case-insensitive), or raise RegionError."""
    region = text.strip().upper()
    if region not in REGIONS:
        known = " ".join(REGIONS)
        raise RegionError(f"unknown region {_shown(text)}: use one of {known}")
    return region


def _shown(text: str) -> str:
    """`text` as a message echoes it: repr(), so no newline splits the line, and cut short."""
    shown = repr(text)
    return shown if len(shown) <= MAX_SHOWN_NAME else shown[: MAX_SHOWN_NAME - 3] + "..."
