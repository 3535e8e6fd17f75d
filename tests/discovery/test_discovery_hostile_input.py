"""Hostile input to the discovery processes: 4xx or one line with exit 2, nothing left behind."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import refusal_line, start_service
from tests.discovery.discovery_http import get, run_cli

NO_UPSTREAM = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    service = start_service(
        ["discovery", "upstream", "--generation-s", "600"], tmp_path_factory.mktemp("upstream")
    )
    yield service.url
    service.stop()


def _refused(*args: str) -> str:
    """Run the CLI, assert one stderr line and exit 2, and return that line."""
    return refusal_line(run_cli(*args))


@pytest.mark.parametrize(
    "generation",
    ["²", "٣", "1" * 13, "-1", "+1", " 1", "1.0", "x" * 5000],
    ids=[
        "superscript",
        "arabic_indic",
        "thirteen_digits",
        "negative",
        "plus",
        "space",
        "float",
        "long",
    ],
)
def test_truth_generation_that_is_not_ascii_digits_is_400(upstream: str, generation: str) -> None:
    reply = get(f"{upstream}/truth?region=DE&generation={urllib.parse.quote(generation)}")

    assert reply.status == 400
    assert "generation" in reply.json()["error"]
    assert len(reply.body) < 200


def test_truth_generation_of_twelve_digits_is_served(upstream: str) -> None:
    reply = get(f"{upstream}/truth?region=DE&generation=999999999999")

    assert reply.status == 200
    assert reply.json()["generation"] == 999_999_999_999


def test_unknown_format_is_quoted_short(upstream: str) -> None:
    reply = get(f"{upstream}/catalog?region=DE&format={'x' * 5000}")

    assert reply.status == 400
    assert len(reply.body) < 200


def test_min_items_in_other_scripts_digits_exits_2(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")

    line = _refused("serve", "--upstream", NO_UPSTREAM, "--db", db, "--min-items", "٣")

    assert "--min-items" in line


@pytest.mark.parametrize("command", ["upstream", "serve"])
def test_ready_file_in_a_folder_that_takes_no_files_exits_2(command: str, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    extra = ["--upstream", NO_UPSTREAM, "--db", str(db)] if command == "serve" else []

    line = _refused(command, "--ready-file", "/proc/r.json", *extra)

    assert "--ready-file /proc/r.json" in line
    assert not db.exists()


@pytest.mark.parametrize("command", ["upstream", "serve"])
def test_ready_file_that_is_a_folder_exits_2_and_leaves_nothing(
    command: str, tmp_path: Path
) -> None:
    folder = tmp_path / "ready"
    folder.mkdir()
    extra = (
        ["--upstream", NO_UPSTREAM, "--db", str(tmp_path / "c.db")] if command == "serve" else []
    )

    line = _refused(command, "--ready-file", str(folder), *extra)

    assert f"--ready-file {folder}" in line
    assert [path.name for path in tmp_path.iterdir()] == ["ready"]
    assert list(folder.iterdir()) == []


def test_port_taken_leaves_no_database_behind(tmp_path: Path) -> None:
    db = tmp_path / "t2.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        line = _refused("serve", "--listen", port, "--upstream", NO_UPSTREAM, "--db", str(db))

    assert f"--listen {port}" in line
    assert list(tmp_path.iterdir()) == []


def test_port_taken_keeps_a_database_that_was_there(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    db.write_bytes(b"")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])

        _refused("serve", "--listen", port, "--upstream", NO_UPSTREAM, "--db", str(db))

    assert db.exists()
