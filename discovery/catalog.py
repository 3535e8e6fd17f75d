"""Seeded upstream catalogs, and the one digest that says whether two catalogs are equal.

A catalog is a pure function of (seed, region, generation): the upstream simulator, the
tests and the storm's truth check all rebuild the same items from those three numbers.
Every generation drops and adds a few items and rewrites some titles and descriptions,
so a cache that stopped refreshing is visibly behind.

`catalog_digest` is shared by the upstream's `/truth` and the cache's `/snapshot`: the
two digests are equal exactly when the cache holds that catalog, row for row.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterable, Mapping
from typing import TypedDict

MIN_ITEMS = 50
MAX_ITEMS = 80
POOL_SIZE = 110
ID_BASE = 100
# Membership churn per generation; the base size keeps every generation within 50..80.
BASE_MIN, BASE_MAX = 58, 72
MAX_CHURN = 6
EDIT_FRACTION = 0.15

ADJECTIVES = (
    "midnight", "silent", "golden", "hidden", "last", "wild",
    "broken", "electric", "northern", "secret", "crimson", "endless",
)  # fmt: skip
TOPICS = (
    "ocean", "space", "cooking", "football", "music", "history", "wildlife", "robots",
    "detectives", "mountains", "cities", "trains", "dragons", "islands", "jazz", "chess",
)  # fmt: skip
FORMATS = ("chronicles", "files", "diaries", "stories", "saga", "show", "odyssey", "tapes")
GENRES = (
    "drama", "comedy", "thriller", "documentary", "anime", "romance",
    "horror", "mystery", "western", "musical", "fantasy", "scifi",
)  # fmt: skip
KINDS = ("series", "film", "miniseries", "special")
HOOKS = (
    "filmed across three seasons", "with a twist ending", "for the whole family",
    "told in real time", "based on true events", "from a debut director",
    "shot on location", "with an award-winning score",
)  # fmt: skip


class Item(TypedDict):
    """One catalog entry, as the upstream sends it and the cache stores it."""

    id: str
    title: str
    region: str
    description: str


def item_id(region: str, number: int) -> str:
    """Return the stable id of pool slot `number` in `region`, like `DE-000123`."""
    return f"{region}-{ID_BASE + number:06d}"


def build_catalog(seed: int, region: str, generation: int) -> list[Item]:
    """Return the catalog of `region` at `generation`, sorted by id (a fresh list)."""
    return [item.copy() for item in _catalog(seed, region, generation)]


@functools.lru_cache(maxsize=256)
def _catalog(seed: int, region: str, generation: int) -> tuple[Item, ...]:
    members = _members(seed, region, generation)
    edits = random.Random(f"{seed}/{region}/{generation}/edits")
    items = []
    for number in members:
        title_version = generation if edits.random() < EDIT_FRACTION else -1
        text_version = generation if edits.random() < EDIT_FRACTION else -1
        items.append(
            Item(
                id=item_id(region, number),
                title=_title(seed, region, number, title_version),
                region=region,
                description=_description(seed, region, number, text_version),
            )
        )
    return tuple(items)


def _members(seed: int, region: str, generation: int) -> list[int]:
    base_rng = random.Random(f"{seed}/{region}/members")
    pool = list(range(POOL_SIZE))
    base = set(base_rng.sample(pool, base_rng.randint(BASE_MIN, BASE_MAX)))

    churn = random.Random(f"{seed}/{region}/{generation}/churn")
    dropped = churn.sample(sorted(base), churn.randint(1, MAX_CHURN))
    outside = [number for number in pool if number not in base]
    added = churn.sample(outside, churn.randint(1, MAX_CHURN))
    return sorted((base - set(dropped)) | set(added))


def _title(seed: int, region: str, number: int, version: int) -> str:
    rng = random.Random(f"{seed}/{region}/{number}/{version}/title")
    words = (rng.choice(ADJECTIVES), rng.choice(TOPICS), rng.choice(FORMATS))
    return " ".join(word.capitalize() for word in words)


def _description(seed: int, region: str, number: int, version: int) -> str:
    rng = random.Random(f"{seed}/{region}/{number}/{version}/description")
    first, second = rng.sample(TOPICS, 2)
    genre, kind, hook = rng.choice(GENRES), rng.choice(KINDS), rng.choice(HOOKS)
    article = "An" if genre[0] in "aeiou" else "A"
    return f"{article} {genre} {kind} about {first} and {second}, {hook}. Streaming in {region}."


def catalog_digest(items: Iterable[Mapping[str, object]]) -> str:
    """Return the sha256 hex digest of (id, title, region, description) rows sorted by id.

    Canonical JSON (no spaces, UTF-8) makes the digest independent of field order, row
    order and of which side (upstream or cache) computed it.
    """
    rows = sorted(
        [str(item["id"]), str(item["title"]), str(item["region"]), str(item["description"])]
        for item in items
    )
    canonical = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
