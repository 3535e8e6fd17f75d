"""Hostile inputs: every one is refused in one bounded line, and nothing is left behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from faults.errors import ProfileError
from faults.profile import MAX_PROFILE_BYTES, MAX_TYPES, load_profile, parse_profile
from tests.conftest import Service, free_port, refusal_line
from tests.faults.rawhttp import raw_request
from tests.faults.support import Proxy, run_faults, start_proxy

NO_UPSTREAM = "http://127.0.0.1:9"
NESTED = "[" * 200_000
NEWLINE_PARAM = {
    "DE": {"probability": 1, "types": ["truncate"], "params": {"truncate": {"bad\nkey": 1}}}
}
NEWLINE_KEY = {"DE": {"probability": 1, "types": ["truncate"], "evil\nline": 1}}
# Every line the proxy logs starts with the date of basicConfig's format.
LOG_LINE_START = "20"


def _put_raw(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(f"{url}/__faults/profile", data=body, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _refused(*options: str) -> str:
    """Run the proxy, assert the one-line refusal with exit 2, return that line."""
    return refusal_line(run_faults(*options))


def _profile_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "profile.json"
    path.write_text(text)
    return str(path)


def _log_lines_are_all_ours(proxy: Proxy) -> None:
    lines = proxy.log_path.read_text().splitlines()
    assert all(line.startswith(LOG_LINE_START) for line in lines), lines


def test_deeply_nested_profile_file_exits_2_with_one_line(tmp_path: Path) -> None:
    line = _refused(
        "--listen", "0", "--upstream", NO_UPSTREAM, "--profile", _profile_file(tmp_path, NESTED)
    )  # fmt: skip

    assert "nested deeper" in line


def test_deeply_nested_profile_put_gets_400_with_one_line(proxy: Proxy) -> None:
    status, body = _put_raw(proxy.url, NESTED.encode())

    assert status == 400
    assert len(body.strip().splitlines()) == 1
    assert "nested deeper" in body


def test_nesting_json_accepts_but_no_profile_needs_is_refused() -> None:
    deep: object = 1
    for _ in range(20):
        deep = [deep]
    profile = {"DE": {"probability": 1, "types": ["truncate"], "params": {"truncate": deep}}}

    with pytest.raises(ProfileError, match="nested deeper"):
        parse_profile(json.dumps(profile), "test")


def test_newline_in_a_param_name_gives_one_line_at_the_cli(tmp_path: Path) -> None:
    path = _profile_file(tmp_path, json.dumps(NEWLINE_PARAM))

    line = _refused("--listen", "0", "--upstream", NO_UPSTREAM, "--profile", path)

    assert "'bad\\nkey'" in line


def test_newline_in_an_entry_key_cannot_write_a_log_line(proxy: Proxy) -> None:
    status, body = _put_raw(proxy.url, json.dumps(NEWLINE_KEY).encode())

    assert status == 400
    assert len(body.strip().splitlines()) == 1
    assert "'evil\\nline'" in body
    _log_lines_are_all_ours(proxy)


def test_a_huge_key_is_cut_short_in_the_message() -> None:
    profile = {"DE": {"probability": 1, "types": ["truncate"], "k" * 100_000: 1}}

    with pytest.raises(ProfileError) as caught:
        parse_profile(json.dumps(profile), "test")

    assert len(str(caught.value)) < 400


def test_ready_file_in_a_folder_that_takes_no_files_exits_2() -> None:
    line = _refused("--listen", "0", "--upstream", NO_UPSTREAM, "--ready-file", "/proc/r.json")

    assert "--ready-file /proc/r.json" in line


def test_ready_file_that_is_a_folder_exits_2_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "ready"
    folder.mkdir()
    ledger = tmp_path / "ledger.csv"

    line = _refused(
        "--listen", "0", "--upstream", NO_UPSTREAM, "--ready-file", str(folder),
        "--ledger", str(ledger),
    )  # fmt: skip

    assert f"--ready-file {folder}" in line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ready"]
    assert list(folder.iterdir()) == []


def test_upstream_credentials_stay_out_of_the_502_and_the_log(
    fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(f"http://user:s3cret@127.0.0.1:{free_port()}", tmp_path)
    fresh_proxies.append(proxy)

    reply = raw_request(proxy.url, "/catalog", region="US", framed=True)
    proxy.stop()

    assert reply.status == 502
    assert b"s3cret" not in reply.body
    assert "s3cret" not in proxy.log_path.read_text()
    assert "***@127.0.0.1" in proxy.log_path.read_text()


def test_upstream_credentials_are_still_sent_as_basic_auth(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    with_credentials = upstream.url.replace("http://", "http://user:s3cret@")
    proxy = start_proxy(with_credentials, tmp_path)
    fresh_proxies.append(proxy)

    echo = raw_request(proxy.url, "/echo", framed=True).json()

    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert echo["headers"]["Authorization"] == expected


@pytest.mark.parametrize("pid", ["0", "-1"])
def test_parent_pid_below_1_exits_2(pid: str) -> None:
    line = _refused("--listen", "0", "--upstream", NO_UPSTREAM, f"--parent-pid={pid}")

    assert f"--parent-pid {pid}" in line


def test_profile_file_larger_than_the_limit_is_refused_unread(tmp_path: Path) -> None:
    kinds = ["truncate"] * (MAX_PROFILE_BYTES // 10)
    path = _profile_file(tmp_path, json.dumps({"DE": {"probability": 1, "types": kinds}}))

    with pytest.raises(ProfileError, match="larger than 256 KiB"):
        load_profile(Path(path))


def test_profile_put_larger_than_the_limit_gets_400(proxy: Proxy) -> None:
    body = b" " * MAX_PROFILE_BYTES + b"{}"

    status, message = _put_raw(proxy.url, body)

    assert status == 400
    assert "larger than 256 KiB" in message


def test_more_types_than_the_limit_are_refused() -> None:
    profile = {"DE": {"probability": 1, "types": ["truncate"] * (MAX_TYPES + 1)}}

    with pytest.raises(ProfileError, match=f"at most {MAX_TYPES}"):
        parse_profile(json.dumps(profile), "test")


def test_profile_installed_log_line_stays_short_for_the_longest_profile(proxy: Proxy) -> None:
    entry = {"probability": 1, "types": ["truncate", "flap"] * (MAX_TYPES // 2)}
    regions = ["US", "GB", "DE", "FR", "JP", "KR", "BR", "AU"]

    status, _ = _put_raw(proxy.url, json.dumps(dict.fromkeys(regions, entry)).encode())
    time.sleep(0.2)

    assert status == 200
    log = proxy.log_path.read_text().splitlines()
    line = [line for line in log if "profile installed" in line][-1]
    assert "DE p=1 truncate*32,flap*32" in line
    assert len(line) < 600


def test_sigterm_records_every_held_lie_within_the_documented_second(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path, "--seed", "3")
    fresh_proxies.append(proxy)
    params = {
        "truncate": {"end": "hang", "hang_max_ms": 60_000},
        "dribble_then_reset": {"pause_ms": 2_000, "chunk_bytes": 100},
        "slowloris": {"interval_ms": 2_000},
    }
    proxy.put_profile({"DE": {"probability": 1.0, "types": list(params), "params": params}})
    host, port = proxy.url.removeprefix("http://").split(":")
    clients = [socket.create_connection((host, int(port)), timeout=5) for _ in range(6)]
    try:
        for number, client in enumerate(clients):
            client.sendall(
                f"GET /catalog?t={number} HTTP/1.1\r\nHost: x\r\nX-Region: DE\r\n\r\n".encode()
            )
        for client in clients:
            assert client.recv(100).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        os.kill(proxy.service.proc.pid, signal.SIGTERM)
        code = proxy.service.proc.wait(timeout=10)
        elapsed_s = time.monotonic() - started
    finally:
        for client in clients:
            client.close()

    assert code == 0
    rows = proxy.ledger_rows()
    assert len(rows) == 6
    assert {row["end"] for row in rows} == {"aborted"}
    assert {row["kind"] for row in rows} <= set(params)
    # One second of grace, then the resets: aiohttp's own wait would add another second.
    assert 0.9 < elapsed_s < 1.8


def _long_number_profile() -> str:
    return '{"DE": {"probability": ' + "1" * 5000 + ', "types": ["truncate"]}}'


def test_a_5000_digit_number_in_a_profile_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = _profile_file(tmp_path, _long_number_profile())

    line = _refused("--listen", "0", "--upstream", NO_UPSTREAM, "--profile", path)

    assert "not valid JSON" in line and "too long" in line
    assert len(line) < 400


def test_a_5000_digit_number_put_gets_400_with_one_line(proxy: Proxy) -> None:
    status, body = _put_raw(proxy.url, _long_number_profile().encode())

    assert status == 400
    assert len(body.strip().splitlines()) == 1
    assert "not valid JSON" in body and "too long" in body


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_literal_in_a_profile_is_refused_by_name(literal: str) -> None:
    text = '{"DE": {"probability": 1, "types": ["truncate"], '
    text += '"params": {"truncate": {"keep_fraction": ' + literal + "}}}}"

    with pytest.raises(ProfileError, match=f"{literal} is no JSON number"):
        parse_profile(text, "test")


def test_a_non_finite_literal_put_gets_400(proxy: Proxy) -> None:
    status, body = _put_raw(proxy.url, b'{"DE": {"probability": Infinity, "types": ["flap"]}}')

    assert status == 400
    assert "Infinity is no JSON number" in body


def test_an_infinite_hang_put_gets_400(proxy: Proxy) -> None:
    body = b'{"DE": {"probability": 1, "types": ["truncate"], '
    body += b'"params": {"truncate": {"end": "hang", "hang_max_ms": 1e999}}}}'

    status, message = _put_raw(proxy.url, body)

    assert status == 400
    assert len(message.strip().splitlines()) == 1
    assert "params.truncate.hang_max_ms: Input should be a finite number" in message


def test_an_infinite_slowloris_in_a_profile_file_exits_2(tmp_path: Path) -> None:
    text = '{"DE": {"probability": 1, "types": ["slowloris"], '
    text += '"params": {"slowloris": {"max_duration_ms": 1e999}}}}'

    line = _refused(
        "--listen", "0", "--upstream", NO_UPSTREAM, "--profile", _profile_file(tmp_path, text)
    )  # fmt: skip

    assert "params.slowloris.max_duration_ms: Input should be a finite number" in line
