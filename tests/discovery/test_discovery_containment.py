"""One region's upstream trouble stays in that region, and an open breaker stays open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.conftest import Service, start_service
from tests.discovery.discovery_http import get, wait_until

CLEAN = ("US", "GB", "FR", "JP", "KR", "BR", "AU")
FAKE_UPSTREAM = "tests.discovery.discovery_fake_upstream"


def snapshot(url: str) -> dict[str, Any]:
    regions: dict[str, Any] = get(f"{url}/snapshot").json()["regions"]
    return regions


def serve(tmp_path: Path, upstream: str, db: Path, *extra: str) -> Service:
    args = ["discovery", "serve", "--upstream", upstream, "--db", str(db), *extra]
    return start_service(args, tmp_path)


def test_hanging_region_does_not_delay_other_regions(
    services: list[Service], tmp_path: Path
) -> None:
    upstream = start_service([FAKE_UPSTREAM, "--hang", "DE", "--generation-s", "600"], tmp_path)
    services.append(upstream)
    discovery = serve(
        tmp_path, upstream.url, tmp_path / "cache.db", "--interval-s", "0.5", "--deadline-s", "3"
    )
    services.append(discovery)
    wait_until(
        lambda: all(snapshot(discovery.url)[r]["generation"] is not None for r in CLEAN),
        15,
        "every clean region cached",
    )

    before = get(f"{upstream.url}/__counts").json()
    time.sleep(2.0)
    after = get(f"{upstream.url}/__counts").json()

    for region in CLEAN:
        assert after[region] - before[region] >= 3, (region, before, after)
        assert get(f"{discovery.url}/discover?region={region}").json()["age_s"] < 1.5
    assert after["DE"] <= 2
    assert get(f"{discovery.url}/discover?region=DE").status == 503


def test_open_breaker_survives_a_restart_and_sends_no_request(
    services: list[Service], tmp_path: Path
) -> None:
    upstream = start_service([FAKE_UPSTREAM, "--fail", "DE"], tmp_path)
    services.append(upstream)
    db = tmp_path / "cache.db"
    breaker_options = ("--interval-s", "0.2", "--trip-after", "3", "--cooldown-s", "60")

    first = serve(tmp_path, upstream.url, db, *breaker_options)
    wait_until(lambda: snapshot(first.url)["DE"]["breaker"] == "open", 10, "DE breaker open")
    first.stop()
    requests_before = get(f"{upstream.url}/__counts").json()["DE"]

    second = serve(tmp_path, upstream.url, db, *breaker_options)
    services.append(second)
    time.sleep(1.0)

    assert snapshot(second.url)["DE"]["breaker"] == "open"
    assert snapshot(second.url)["JP"]["breaker"] == "closed"
    assert get(f"{upstream.url}/__counts").json()["DE"] == requests_before
