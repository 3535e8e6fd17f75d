"""The eight regions a storm loads, and the one way to turn user text into a region."""

from __future__ import annotations

REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "JP", "KR", "BR", "AU")


class RegionError(ValueError):
    """A region name that is not one of REGIONS."""


def parse_region(text: str) -> str:
    """Return the canonical region for `text` (case-insensitive), or raise RegionError."""
    region = text.strip().upper()
    if region not in REGIONS:
        known = " ".join(REGIONS)
        raise RegionError(f"unknown region {text!r}: use one of {known}")
    return region
