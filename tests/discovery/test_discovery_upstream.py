"""The upstream simulator as a real child process: catalogs, framing, 304 and truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.regions import REGIONS
from discovery.catalog import build_catalog, catalog_digest
from tests.conftest import Service, start_service
from tests.discovery.discovery_http import get, run_cli


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # A long generation keeps every test of this module inside one generation.
    service = start_service(
        ["discovery", "upstream", "--seed", "5", "--generation-s", "600"],
        tmp_path_factory.mktemp("upstream"),
    )
    yield service.url
    service.stop()


def test_json_catalog_matches_the_seeded_catalog_and_its_headers(upstream: str) -> None:
    reply = get(f"{upstream}/catalog?region=DE")
    document = reply.json()

    assert reply.status == 200
    assert document["items"] == build_catalog(5, "DE", document["generation"])
    assert document["item_count"] == len(document["items"])
    assert reply.headers["X-Item-Count"] == str(len(document["items"]))
    assert reply.headers["Last-Modified"] and reply.headers["Date"]


def test_region_comes_from_the_x_region_header(upstream: str) -> None:
    reply = get(f"{upstream}/catalog", headers={"X-Region": "jp"})
    assert reply.json()["region"] == "JP"


def test_x_region_header_wins_over_the_query(upstream: str) -> None:
    reply = get(f"{upstream}/catalog?region=DE", headers={"X-Region": "KR"})
    assert reply.json()["region"] == "KR"


def test_ndjson_catalog_has_one_item_per_line(upstream: str) -> None:
    reply = get(f"{upstream}/catalog?region=BR&format=ndjson")
    lines = reply.body.decode().splitlines()

    assert reply.headers["Content-Type"].startswith("application/x-ndjson")
    assert len(lines) == int(reply.headers["X-Item-Count"]) >= 50


def test_if_modified_since_at_last_modified_gives_304(upstream: str) -> None:
    first = get(f"{upstream}/catalog?region=FR")
    again = get(
        f"{upstream}/catalog?region=FR",
        headers={"If-Modified-Since": first.headers["Last-Modified"]},
    )
    assert again.status == 304
    assert again.body == b""


def test_if_modified_since_before_last_modified_gives_200(upstream: str) -> None:
    reply = get(
        f"{upstream}/catalog?region=FR",
        headers={"If-Modified-Since": "Thu, 01 Jan 2015 00:00:00 GMT"},
    )
    assert reply.status == 200


def test_unknown_region_is_404_with_a_json_error(upstream: str) -> None:
    reply = get(f"{upstream}/catalog?region=XX")
    assert reply.status == 404
    assert "XX" in reply.json()["error"]


def test_truth_digest_equals_the_digest_of_the_served_catalog(upstream: str) -> None:
    document = get(f"{upstream}/catalog?region=AU").json()
    truth = get(f"{upstream}/truth?region=AU&generation={document['generation']}").json()

    assert truth["digest"] == catalog_digest(document["items"])
    assert truth["item_count"] == document["item_count"]


def test_truth_without_region_covers_every_region(upstream: str) -> None:
    truth = get(f"{upstream}/truth").json()
    assert sorted(truth["regions"]) == sorted(REGIONS)
    assert truth["regions"]["US"]["generation"] == truth["generation"]


def test_generation_advances_every_generation_s(services: list[Service], tmp_path: Path) -> None:
    service = start_service(["discovery", "upstream", "--generation-s", "1"], tmp_path)
    services.append(service)
    first = get(f"{service.url}/catalog?region=GB")
    time.sleep(1.3)
    second = get(
        f"{service.url}/catalog?region=GB",
        headers={"If-Modified-Since": first.headers["Last-Modified"]},
    )

    assert second.status == 200
    assert second.json()["generation"] > first.json()["generation"]


def test_generation_shorter_than_a_second_is_refused() -> None:
    result = run_cli("upstream", "--generation-s", "0.5")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--generation-s" in result.stderr
