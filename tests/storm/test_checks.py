"""The honesty checks a region user applies to every /discover response."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storm import checks
from storm.checks import Outcome, Shape, check_discover


def payload(region: str = "DE", count: int = 60, **overrides: Any) -> dict[str, Any]:
    items = [
        {"id": f"{region}-{n:06d}", "title": f"title {n}", "region": region} for n in range(count)
    ]
    body: dict[str, Any] = {
        "region": region,
        "generation": 3,
        "age_s": 1.5,
        "snapshot_items": count,
        "count": count,
        "items": items,
    }
    body.update(overrides)
    return body


def test_complete_response_is_honest_and_reports_its_age() -> None:
    outcome = check_discover(200, payload(), "DE", 50, searched=False)
    assert outcome.problem is None
    assert outcome.age_s == 1.5


def test_error_status_is_unavailable_not_dishonest() -> None:
    outcome = check_discover(503, None, "DE", 50, searched=False)
    assert outcome.problem == "unavailable: status 503"


def test_partial_catalogue_is_dishonest() -> None:
    outcome = check_discover(200, payload(count=12), "DE", 50, searched=False)
    assert outcome.problem is not None
    assert outcome.problem.startswith("dishonest: partial catalogue")


def test_empty_catalogue_is_dishonest() -> None:
    outcome = check_discover(200, payload(count=0), "DE", 50, searched=False)
    assert outcome.problem is not None and outcome.problem.startswith("dishonest:")


def test_search_results_may_be_few() -> None:
    outcome = check_discover(200, payload(count=3), "DE", 50, searched=True)
    assert outcome.problem is None


def test_null_id_is_dishonest() -> None:
    body = payload()
    body["items"][7]["id"] = None
    outcome = check_discover(200, body, "DE", 50, searched=False)
    assert outcome.problem == "dishonest: item with null id"


def test_duplicated_item_is_dishonest() -> None:
    body = payload()
    body["items"][1]["id"] = body["items"][0]["id"]
    outcome = check_discover(200, body, "DE", 50, searched=False)
    assert outcome.problem == "dishonest: duplicated item id"


def test_item_of_another_region_is_dishonest() -> None:
    body = payload()
    body["items"][0]["region"] = "JP"
    outcome = check_discover(200, body, "DE", 50, searched=False)
    assert outcome.problem == "dishonest: item of region 'JP' in DE"


def test_other_region_served_is_dishonest() -> None:
    outcome = check_discover(200, payload(region="JP"), "DE", 50, searched=False)
    assert outcome.problem == "dishonest: region 'JP' served for DE"


def test_count_that_disagrees_with_snapshot_is_dishonest() -> None:
    outcome = check_discover(200, payload(snapshot_items=70), "DE", 50, searched=False)
    assert outcome.problem == "dishonest: item count differs from snapshot_items"


def test_body_that_is_not_an_object_is_dishonest() -> None:
    outcome = check_discover(200, [1, 2], "DE", 50, searched=False)
    assert outcome.problem == "dishonest: body is not a JSON object"


def test_missing_age_is_dishonest() -> None:
    body = payload()
    del body["age_s"]
    outcome = check_discover(200, body, "DE", 50, searched=False)
    assert outcome.problem == "dishonest: age_s missing, staleness unknown"


def test_items_found_under_a_dotted_key_of_another_api() -> None:
    body = {"data": {"videos": [{"uid": n} for n in range(60)]}}
    shape = Shape(items_key="data.videos", id_key="uid", age_key="")
    outcome = check_discover(200, body, "DE", 50, searched=False, shape=shape)
    assert outcome == Outcome(None, None)


def test_missing_list_under_the_configured_key_is_dishonest() -> None:
    shape = Shape(items_key="data.videos", age_key="")
    outcome = check_discover(200, {"data": {}}, "DE", 50, searched=False, shape=shape)
    assert outcome.problem == "dishonest: data.videos is not a list"


def test_api_without_age_reports_no_staleness() -> None:
    body = payload()
    del body["age_s"]
    outcome = check_discover(200, body, "DE", 50, searched=False, shape=Shape(age_key=""))
    assert outcome == Outcome(None, None)


def test_configured_minimum_applies_to_another_api() -> None:
    body = {"items": [{"id": n} for n in range(10)]}
    outcome = check_discover(200, body, "DE", 20, searched=False, shape=Shape(age_key=""))
    assert outcome.problem == "dishonest: partial catalogue, fewer than 20 items"


item_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "DE", "FR", "DE-1", "DE-2", "t"]),
    st.lists(st.integers(0, 1), max_size=1),
)
items_lists = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(["id", "region", "title"]), item_values),
        item_values,
    ),
    max_size=6,
)
# Mostly honest lists: the quick pass must accept exactly what the item loop accepts.
nearly_honest = st.lists(
    st.fixed_dictionaries(
        {"id": st.one_of(st.sampled_from(["DE-1", "DE-2", "DE-3", "DE-4"]), st.integers(1, 4))},
        optional={
            "region": st.sampled_from(["DE", "DE", "FR"]),
            "title": st.sampled_from(["t", "t", "", 1]),
        },
    ),
    max_size=5,
)


@settings(max_examples=400)
@given(st.one_of(items_lists, nearly_honest))
def test_the_quick_pass_and_the_item_loop_agree(items: list[Any]) -> None:
    assert checks._items_problem(items, "DE", Shape()) == checks._first_item_problem(
        items, "DE", Shape()
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode(),
        lambda text: b"\xef\xbb\xbf" + text.encode(),
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-32-be"),
    ],
)
def test_a_body_is_parsed_in_every_encoding_json_allows(encode: Any) -> None:
    body = json.dumps(payload())
    assert checks.parse_body(encode(body)) == json.loads(body)


@pytest.mark.parametrize(
    "body", [b'{"age_s": NaN}', b'{"age_s": Infinity}', b'{"age_s": 1e999}', b"\xff{}", b""]
)
def test_what_is_not_strict_json_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        checks.parse_body(body)
