"""Seeded catalogs and the digest both the upstream and the cache compute."""

from __future__ import annotations

import re

from common.regions import REGIONS
from discovery.catalog import build_catalog, catalog_digest


def test_same_seed_region_and_generation_give_the_same_catalog() -> None:
    assert build_catalog(7, "DE", 3) == build_catalog(7, "DE", 3)


def test_every_region_and_generation_has_50_to_80_items_of_its_region() -> None:
    for region in REGIONS:
        for generation in range(12):
            items = build_catalog(1, region, generation)
            assert 50 <= len(items) <= 80
            assert {item["region"] for item in items} == {region}


def test_ids_are_stable_region_prefixed_strings_and_unique() -> None:
    items = build_catalog(1, "KR", 0)
    assert all(re.fullmatch(r"KR-\d{6}", item["id"]) for item in items)
    assert len({item["id"] for item in items}) == len(items)


def test_next_generation_changes_membership_and_some_texts() -> None:
    old = {item["id"]: item for item in build_catalog(1, "DE", 4)}
    new = {item["id"]: item for item in build_catalog(1, "DE", 5)}
    kept = old.keys() & new.keys()

    assert old.keys() != new.keys()
    assert len(kept) > 40
    assert any(old[i]["title"] != new[i]["title"] for i in kept)
    assert any(old[i]["description"] != new[i]["description"] for i in kept)


def test_seeds_give_different_catalogs() -> None:
    assert build_catalog(1, "DE", 0) != build_catalog(2, "DE", 0)


def test_catalogs_contain_searchable_genre_and_topic_words() -> None:
    text = " ".join(item["title"] + " " + item["description"] for item in build_catalog(1, "US", 0))
    assert "ocean" in text.lower() or "space" in text.lower()
    assert re.search(r"\b(drama|comedy|thriller|documentary)\b", text)


def test_digest_ignores_row_and_field_order() -> None:
    items = build_catalog(1, "FR", 2)
    shuffled = [dict(reversed(list(item.items()))) for item in reversed(items)]
    assert catalog_digest(shuffled) == catalog_digest(items)


def test_digest_changes_when_one_title_changes() -> None:
    items = build_catalog(1, "FR", 2)
    changed = [dict(item) for item in items]
    changed[10]["title"] += "!"
    assert catalog_digest(changed) != catalog_digest(items)


def test_digest_changes_when_a_row_is_missing() -> None:
    items = build_catalog(1, "FR", 2)
    assert catalog_digest(items[:-1]) != catalog_digest(items)
