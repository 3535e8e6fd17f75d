"""Honesty checks of one /discover response.

A status code says nothing about whether the data is whole: the incident behind this
suite served near-empty result sets with a 200. Every response is therefore checked for
what a viewer would see. A failure message starts with its class, which the analysis
reads: `dishonest:` when partial or garbage data was served, `unavailable:` when the API
failed honestly (no snapshot yet, an error status, a broken connection).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DISHONEST = "dishonest"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Outcome:
    """What one response proved: `problem` is None for an honest response."""

    problem: str | None = None
    age_s: float | None = None


def check_discover(
    status: int, payload: Any, region: str, min_items: int, searched: bool
) -> Outcome:
    """Check one /discover response of `region`; `payload` is the parsed JSON body."""
    if status != 200:
        return Outcome(f"{UNAVAILABLE}: status {status}")
    if not isinstance(payload, dict):
        return Outcome(f"{DISHONEST}: body is not a JSON object")

    problem = _shape_problem(payload, region) or _items_problem(payload, region)
    if problem is None and not searched:
        problem = _completeness_problem(payload, min_items)
    age = payload.get("age_s")
    age_s = float(age) if isinstance(age, int | float) and not isinstance(age, bool) else None
    if problem is None and age_s is None:
        problem = f"{DISHONEST}: age_s missing, staleness unknown"
    return Outcome(problem, age_s)


def _shape_problem(payload: dict[str, Any], region: str) -> str | None:
    if payload.get("region") != region:
        return f"{DISHONEST}: region {payload.get('region')!r} served for {region}"
    if not isinstance(payload.get("items"), list):
        return f"{DISHONEST}: items is not a list"
    return None


def _items_problem(payload: dict[str, Any], region: str) -> str | None:
    seen: set[str] = set()
    for item in payload["items"]:
        if not isinstance(item, dict):
            return f"{DISHONEST}: item is not an object"
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            return f"{DISHONEST}: item with null id"
        if item_id in seen:
            return f"{DISHONEST}: duplicated item id"
        if item.get("region") != region:
            return f"{DISHONEST}: item of region {item.get('region')!r} in {region}"
        if not isinstance(item.get("title"), str) or not item["title"]:
            return f"{DISHONEST}: item with empty title"
        seen.add(item_id)
    return None


def _completeness_problem(payload: dict[str, Any], min_items: int) -> str | None:
    # Counts are bucketed into the message so that Locust groups the failures into a
    # few rows instead of one row per distinct count.
    items = payload["items"]
    if len(items) < min_items:
        return f"{DISHONEST}: partial catalogue, fewer than {min_items} items"
    if payload.get("snapshot_items") != len(items):
        return f"{DISHONEST}: item count differs from snapshot_items"
    return None
