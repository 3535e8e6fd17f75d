"""Honesty checks of one /discover response.

A status code says nothing about whether the data is whole: the incident behind this
suite served near-empty result sets with a 200. Every response is therefore checked for
what a viewer would see. A failure message starts with its class, which the analysis
reads: `dishonest:` when partial or garbage data was served, `unavailable:` when the API
failed honestly (no snapshot yet, an error status, a broken connection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

DISHONEST = "dishonest"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Outcome:
    """What one response proved: `problem` is None for an honest response."""

    problem: str | None = None
    age_s: float | None = None


@dataclass(frozen=True)
class Shape:
    """Where an API's answer keeps what the checks read; the defaults fit /discover.

    `items_key` may be dotted (`data.items`); an empty `age_key` means the API reports no
    snapshot age, so staleness is not measured.
    """

    items_key: str = "items"
    id_key: str = "id"
    age_key: str = "age_s"


def parse_body(body: bytes) -> Any:
    """The JSON value of a response body; ValueError when it is not JSON.

    Strict RFC 8259 (orjson): NaN, Infinity and numbers beyond a double are refused. A
    body in UTF-16 or UTF-32, or UTF-8 behind a byte order mark, which RFC 8259 lets a
    parser accept, is decoded first.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        encoding = json.detect_encoding(body)
        if encoding == "utf-8":
            raise
        return orjson.loads(body.decode(encoding))


def check_discover(
    status: int,
    payload: Any,
    region: str,
    min_items: int,
    searched: bool,
    *,
    shape: Shape | None = None,
) -> Outcome:
    """Check one /discover response of `region`; `payload` is the parsed JSON body."""
    shape = shape or Shape()
    if status != 200:
        return Outcome(f"{UNAVAILABLE}: status {status}")
    if not isinstance(payload, dict):
        return Outcome(f"{DISHONEST}: body is not a JSON object")

    items = dig(payload, shape.items_key)
    problem = _shape_problem(payload, items, region, shape)
    if problem is None:
        problem = _items_problem(items, region, shape)
    if problem is None and not searched:
        problem = _completeness_problem(payload, items, min_items)
    age_s = None
    if shape.age_key:
        age = payload.get(shape.age_key)
        age_s = float(age) if isinstance(age, int | float) and not isinstance(age, bool) else None
        if problem is None and age_s is None:
            problem = f"{DISHONEST}: {shape.age_key} missing, staleness unknown"
    return Outcome(problem, age_s)


def dig(payload: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted key path, or None."""
    value: Any = payload
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _shape_problem(payload: dict[str, Any], items: Any, region: str, shape: Shape) -> str | None:
    if "region" in payload and payload["region"] != region:
        return f"{DISHONEST}: region {payload.get('region')!r} served for {region}"
    if not isinstance(items, list):
        return f"{DISHONEST}: {shape.items_key} is not a list"
    return None


def _items_problem(items: list[Any], region: str, shape: Shape) -> str | None:
    if _plainly_honest(items, region, shape.id_key):
        return None
    return _first_item_problem(items, region, shape)


def _plainly_honest(items: list[Any], region: str, id_key: str) -> bool:
    """True when every item passes `_first_item_problem`, proved with C-level passes.

    Ids of one type (all strings or all integers), none empty, no two alike; every
    region present equal to `region`; every title present a non-empty string. Anything
    else (a mix of id types, an unhashable value, an item that is not an object) returns
    False, and the item-by-item loop names the problem, if there is one.
    """
    try:
        ids = list(map(itemgetter(id_key), items))
        id_types = set(map(type, ids))
        if not (id_types <= {str} or id_types == {int}) or "" in ids or len(set(ids)) < len(ids):
            return False
        if not {item.get("region", region) for item in items} <= {region}:
            return False
        titles = {item.get("title", "-") for item in items}
    except (TypeError, KeyError, AttributeError):
        return False
    return "" not in titles and set(map(type, titles)) <= {str}


def _first_item_problem(items: list[Any], region: str, shape: Shape) -> str | None:
    # Fields other than the id are checked where the API has them: an external API's
    # items need not carry a region or a title.
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict):
            return f"{DISHONEST}: item is not an object"
        item_id = item.get(shape.id_key)
        if not isinstance(item_id, str | int) or isinstance(item_id, bool) or item_id == "":
            return f"{DISHONEST}: item with null id"
        if str(item_id) in seen:
            return f"{DISHONEST}: duplicated item id"
        if "region" in item and item["region"] != region:
            return f"{DISHONEST}: item of region {item.get('region')!r} in {region}"
        if "title" in item and (not isinstance(item["title"], str) or not item["title"]):
            return f"{DISHONEST}: item with empty title"
        seen.add(str(item_id))
    return None


def _completeness_problem(payload: dict[str, Any], items: list[Any], min_items: int) -> str | None:
    # Counts are bucketed into the message so that Locust groups the failures into a
    # few rows instead of one row per distinct count.
    if len(items) < min_items:
        return f"{DISHONEST}: partial catalogue, fewer than {min_items} items"
    if "snapshot_items" in payload and payload["snapshot_items"] != len(items):
        return f"{DISHONEST}: item count differs from snapshot_items"
    return None
