"""The ledger: one flushed row per injected fault, saying exactly what went on the wire."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from faults.ledger import COLUMNS, MAX_PATH_CHARS, sanitized_path
from tests.conftest import free_port
from tests.faults.rawhttp import raw_request
from tests.faults.support import Proxy, only, start_proxy
from tests.faults.upstream_stub import LAST_MODIFIED, catalog_body

SIZE = len(catalog_body("DE"))


def test_ledger_starts_with_the_header_row(fresh_proxies: list[Proxy], tmp_path: Path) -> None:
    fresh_proxies.append(start_proxy("http://127.0.0.1:9", tmp_path))

    lines = fresh_proxies[0].ledger_path.read_text().splitlines()

    assert lines == [",".join(COLUMNS)]


def test_ledger_row_records_promised_written_end_and_params(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", keep_bytes=1000))

    raw_request(proxy.url, "/catalog?t=ledger-trunc", region="DE")
    row = proxy.wait_for_row("ledger-trunc")

    assert (row["region"], row["kind"], row["method"], row["status"]) == (
        "DE",
        "truncate",
        "GET",
        "200",
    )
    assert row["bytes_promised"] == str(SIZE)
    assert row["bytes_written"] == "1000"
    assert row["end"] == "fin"
    assert json.loads(row["params"])["keep_bytes"] == 1000
    assert float(row["time"]) > 1.6e9


def test_ledger_counts_bytes_beyond_the_promised_length(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "lie_length", delta_bytes=100, keep_open_ms=0))

    raw_request(proxy.url, "/catalog?t=ledger-long", region="DE")
    row = proxy.wait_for_row("ledger-long")

    assert row["bytes_promised"] == str(SIZE - 100)
    assert row["bytes_written"] == str(SIZE)


def test_ledger_records_rst_end_of_dribble(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "dribble_then_reset", chunk_bytes=4096, pause_ms=1))

    raw_request(proxy.url, "/catalog?t=ledger-rst", region="DE")
    row = proxy.wait_for_row("ledger-rst")

    assert row["end"] == "rst"
    assert row["bytes_written"] == str(SIZE // 2)


def test_ledger_records_a_complete_garbage_reply(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage"))

    reply = raw_request(proxy.url, "/catalog?t=ledger-garbage", region="DE", framed=True)
    row = proxy.wait_for_row("ledger-garbage")

    assert row["end"] == "complete"
    assert row["bytes_promised"] == row["bytes_written"] == str(len(reply.body))


def test_ledger_has_no_row_for_a_forwarded_request(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))

    raw_request(proxy.url, "/catalog?t=ledger-clean", region="US", framed=True)
    raw_request(proxy.url, "/catalog?t=ledger-after", region="DE")
    proxy.wait_for_row("ledger-after")

    assert not [row for row in proxy.ledger_rows() if "ledger-clean" in row["path"]]


def test_body_fault_answers_a_conditional_request_with_a_broken_200(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))

    not_modified = {"If-Modified-Since": LAST_MODIFIED}
    reply = raw_request(proxy.url, "/catalog?t=ledger-cond", region="DE", headers=not_modified)
    row = proxy.wait_for_row("ledger-cond")

    assert reply.status == 200
    assert int(row["bytes_written"]) < int(row["bytes_promised"])
    assert row["end"] == "fin"


def test_clock_skew_keeps_the_conditional_request(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "clock_skew"))

    not_modified = {"If-Modified-Since": LAST_MODIFIED}
    reply = raw_request(
        proxy.url, "/catalog?t=ledger-skew304", region="DE", headers=not_modified, framed=True
    )

    assert (reply.status, reply.body) == (304, b"")


def test_ledger_path_is_bounded(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage"))

    raw_request(proxy.url, "/catalog?t=ledger-long-path&pad=" + "p" * 500, region="DE", framed=True)
    row = proxy.wait_for_row("ledger-long-path")

    assert len(row["path"]) == MAX_PATH_CHARS
    assert row["path"].endswith("...")


def test_sanitized_path_replaces_control_characters() -> None:
    assert sanitized_path("/catalog\x1b[31m\r\nX-Evil: 1") == "/catalog?[31m??X-Evil: 1"


RAW_END_OF = {"fin": "fin", "hang": "fin", "rst": "rst", "complete": "complete"}
EVERY_KIND = [
    ("slowloris", {"interval_ms": 2, "max_duration_ms": 150}),
    ("truncate", {"keep_fraction": 0.3}),
    ("truncate", {"keep_bytes": 777, "end": "rst"}),
    ("truncate", {"end": "hang", "hang_max_ms": 150}),
    ("lie_length", {"delta_bytes": -50}),
    ("lie_length", {"delta_bytes": 50, "keep_open_ms": 0}),
    ("valid_garbage", {"mode": "empty"}),
    ("valid_garbage", {"mode": "null_ids"}),
    ("valid_garbage", {"mode": "wrong_types"}),
    ("valid_garbage", {"mode": "duplicated_items"}),
    ("flap", {}),
    ("false_recovery", {}),
    ("clock_skew", {}),
    ("dribble_then_reset", {"chunk_bytes": 1000, "pause_ms": 5}),
]


@pytest.mark.parametrize(("kind", "params"), EVERY_KIND)
def test_ledger_row_matches_what_the_socket_saw(
    proxy: Proxy, kind: str, params: dict[str, object]
) -> None:
    proxy.put_profile(only("DE", kind, **params))
    marker = f"saw-{kind}-{'-'.join(f'{k}{v}' for k, v in params.items())}"

    complete = kind in ("valid_garbage", "flap", "false_recovery", "clock_skew")
    reply = raw_request(proxy.url, f"/catalog?t={marker}", region="DE", framed=complete)
    row = proxy.wait_for_row(marker)

    assert int(row["status"]) == reply.status
    assert int(row["bytes_promised"]) == reply.content_length
    assert int(row["bytes_written"]) == len(reply.body)
    assert RAW_END_OF[row["end"]] == reply.end
    assert row["connection"] == ("reusable" if reply.end == "complete" else "closed")


def test_ledger_counts_exactly_what_a_leaving_client_received(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "slowloris", interval_ms=10))
    host, port = proxy.url.removeprefix("http://").split(":")
    received = bytearray()

    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(b"GET /catalog?t=leaving HTTP/1.1\r\nHost: x\r\nX-Region: DE\r\n\r\n")
        time.sleep(0.3)
        client.shutdown(socket.SHUT_WR)
        while chunk := client.recv(65536):
            received += chunk
    row = proxy.wait_for_row("leaving")
    body = bytes(received).partition(b"\r\n\r\n")[2]

    assert row["end"] == "client_gone"
    assert int(row["bytes_written"]) == len(body) > 10
    assert body == catalog_body("DE")[: len(body)]


def test_profile_change_is_a_ledger_row_per_region(proxy: Proxy) -> None:
    before = len(proxy.profile_rows())
    proxy.put_profile(only("JP", "truncate"))
    proxy.put_profile({})

    rows = proxy.profile_rows()[before:]
    assert [(row["region"], row["kind"], row["method"]) for row in rows] == [
        ("JP", "profile", "PUT"),
        ("", "profile", "PUT"),
    ]
    assert json.loads(rows[0]["params"])["types"] == ["truncate"]
    assert float(rows[0]["time"]) <= float(rows[1]["time"])


def test_a_profile_given_at_start_is_recorded_and_a_failed_served_request_too(
    tmp_path: Path,
) -> None:
    # No upstream listens: false_recovery's served request gets the proxy's 502, and the
    # ledger must still hold it, or the failures after it would be counted as one run.
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(only("DE", "false_recovery", quiet_ms=1)))
    started = start_proxy(
        f"http://127.0.0.1:{free_port()}", tmp_path, "--profile", str(profile), "--seed", "1"
    )
    try:
        reply = raw_request(started.url, "/catalog?region=DE&lure=dead", framed=True)
        row = started.wait_for_row("lure=dead")
        rows = started.profile_rows()
    finally:
        started.stop()

    assert reply.status == 502
    assert (row["kind"], row["status"], row["end"]) == ("false_recovery", "502", "complete")
    assert [(r["region"], r["method"], r["path"]) for r in rows] == [("DE", "", "--profile")]
    assert json.loads(rows[0]["params"])["types"] == ["false_recovery"]
    assert float(rows[0]["time"]) <= float(row["time"])
