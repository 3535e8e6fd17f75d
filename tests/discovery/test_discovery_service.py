"""`python -m discovery serve` as a real child process in front of a real upstream."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from common.regions import REGIONS
from discovery.catalog import catalog_digest
from tests.conftest import Service, free_port, start_service
from tests.discovery.discovery_http import get, run_cli, wait_until


@dataclass
class Stack:
    upstream: str
    discovery: str


def serve(tmp_path: Path, upstream: str, *extra: str, db: Path | None = None) -> Service:
    db_path = db or tmp_path / "cache.db"
    args = ["discovery", "serve", "--upstream", upstream, "--db", str(db_path), *extra]
    return start_service(args, tmp_path)


def warm(url: str) -> bool:
    return bool(get(f"{url}/health").json()["warm"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    upstream = start_service(["discovery", "upstream", "--generation-s", "600"], folder)
    discovery = serve(folder, upstream.url, "--interval-s", "0.5")
    try:
        wait_until(lambda: warm(discovery.url), 15, "every region cached")
        yield Stack(upstream.url, discovery.url)
    finally:
        discovery.stop()
        upstream.stop()


def test_discover_without_q_serves_the_whole_upstream_catalog(stack: Stack) -> None:
    body = get(f"{stack.discovery}/discover?region=DE").json()
    truth = get(f"{stack.upstream}/truth?region=DE&generation={body['generation']}").json()

    assert body["count"] == body["snapshot_items"] == len(body["items"]) == truth["item_count"]
    assert catalog_digest(body["items"]) == truth["digest"]


def test_discover_with_q_returns_only_matching_items(stack: Stack) -> None:
    body = get(f"{stack.discovery}/discover?region=US&q=ocean").json()

    assert 0 < body["count"] <= 50
    assert body["snapshot_items"] >= 50
    for item in body["items"]:
        assert "ocean" in (item["title"] + " " + item["description"]).lower()


def test_discover_with_two_words_needs_both(stack: Stack) -> None:
    body = get(f"{stack.discovery}/discover?region=US&q={quote('ocean and')}").json()
    for item in body["items"]:
        text = (item["title"] + " " + item["description"]).lower()
        assert "ocean" in text and " and " in text


def test_fts_syntax_in_q_is_searched_as_plain_words(stack: Stack) -> None:
    reply = get(f"{stack.discovery}/discover?region=US&q={quote('ocean OR title:* NEAR(')}")
    assert reply.status == 200


def test_q_without_any_word_is_400(stack: Stack) -> None:
    wordless = quote('"*(')
    reply = get(f"{stack.discovery}/discover?region=US&q={wordless}")
    assert reply.status == 400
    assert "q" in reply.json()["error"]


def test_unknown_region_is_404(stack: Stack) -> None:
    assert get(f"{stack.discovery}/discover?region=XX").status == 404


def test_missing_region_is_400(stack: Stack) -> None:
    assert get(f"{stack.discovery}/discover").status == 400


def test_snapshot_digests_equal_the_upstream_truth(stack: Stack) -> None:
    snapshot = get(f"{stack.discovery}/snapshot").json()

    assert sorted(snapshot["regions"]) == sorted(REGIONS)
    for region, cached in snapshot["regions"].items():
        url = f"{stack.upstream}/truth?region={region}&generation={cached['generation']}"
        assert cached["digest"] == get(url).json()["digest"], region
        assert cached["breaker"] == "closed"


def test_not_modified_answers_keep_the_snapshot_fresh(stack: Stack) -> None:
    time.sleep(1.2)
    body = get(f"{stack.discovery}/discover?region=KR").json()
    snapshot = get(f"{stack.discovery}/snapshot").json()["regions"]["KR"]

    assert body["age_s"] < 1.2
    assert snapshot["checked_at"] > snapshot["fetched_at"]


def test_region_without_a_snapshot_is_503_and_not_warm(
    services: list[Service], tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    services.append(serve(tmp_path, closed, "--interval-s", "0.3"))

    assert get(f"{services[0].url}/discover?region=DE").status == 503
    assert get(f"{services[0].url}/health").json() == {"ok": True, "warm": False}


def test_naive_mode_serves_an_honest_upstream_completely(
    services: list[Service], tmp_path: Path
) -> None:
    upstream = start_service(["discovery", "upstream", "--generation-s", "600"], tmp_path)
    services.append(upstream)
    discovery = serve(tmp_path, upstream.url, "--ingest", "naive", "--interval-s", "0.5")
    services.append(discovery)
    wait_until(lambda: warm(discovery.url), 15, "every region cached")

    body = get(f"{discovery.url}/discover?region=GB").json()
    truth = get(f"{upstream.url}/truth?region=GB&generation={body['generation']}").json()
    assert catalog_digest(body["items"]) == truth["digest"]


def test_db_in_a_missing_folder_exits_2_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "missing" / "cache.db"
    result = run_cli("serve", "--upstream", "http://127.0.0.1:9", "--db", str(db))

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "--db" in result.stderr and "Traceback" not in result.stderr
    assert not db.parent.exists()


def test_upstream_that_is_not_a_url_exits_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--upstream", "localhost:8080", "--db", str(tmp_path / "c.db"))

    assert result.returncode == 2
    assert "--upstream" in result.stderr
    assert not (tmp_path / "c.db").exists()


def test_unknown_ingest_mode_exits_2(tmp_path: Path) -> None:
    result = run_cli(
        "serve", "--upstream", "http://127.0.0.1:9", "--db", str(tmp_path / "c.db"),
        "--ingest", "yolo",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1


def test_service_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    closed = f"http://127.0.0.1:{free_port()}"
    service = serve(tmp_path, closed, "--parent-pid", str(parent.pid))
    try:
        parent.kill()
        parent.wait(timeout=5)
        assert service.proc.wait(timeout=5) == 0
    finally:
        service.stop()
