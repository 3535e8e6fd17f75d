"""What the services expose by default, and the size limits on what clients may send them.

docs/SECURITY.md names these tests beside the claims they prove.
"""

from __future__ import annotations

import gzip
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from discovery.api import MAX_QUERY_CHARS, MAX_QUERY_WORDS
from discovery.errors import IngestError
from discovery.ingest.checks import MAX_BODY_BYTES, check_promised_size, decode_body
from storm.errors import StormError
from storm.options import MAX_PROFILE_BYTES, load_profile
from tests.conftest import Service, free_port, start_service
from tests.discovery.discovery_http import get
from tests.faults.support import start_proxy

ROOT = Path(__file__).resolve().parent.parent
LISTEN = "0A"
LOOPBACK_V4 = "0100007F"


def listening_addresses(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* spells them) with a socket listening on `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if int(port_hex, 16) == port and fields[3] == LISTEN:
                found.append(address)
    return found


def port_of(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_service(["discovery", "upstream"], tmp_path_factory.mktemp("upstream"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def discovery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("discovery")
    closed = f"http://127.0.0.1:{free_port()}"
    args = ["discovery", "serve", "--upstream", closed, "--db", str(folder / "cache.db")]
    service = start_service(args, folder)
    yield service
    service.stop()


def test_upstream_simulator_listens_on_loopback_only_by_default(upstream: Service) -> None:
    assert listening_addresses(port_of(upstream)) == [LOOPBACK_V4]


def test_discovery_service_listens_on_loopback_only_by_default(discovery: Service) -> None:
    assert listening_addresses(port_of(discovery)) == [LOOPBACK_V4]


def test_fault_proxy_listens_on_loopback_only_by_default(upstream: Service, tmp_path: Path) -> None:
    proxy = start_proxy(upstream.url, tmp_path)
    try:
        assert listening_addresses(port_of(proxy.service)) == [LOOPBACK_V4]
    finally:
        proxy.stop()


def test_fault_proxy_refuses_a_request_body_over_one_mebibyte_with_413(
    upstream: Service, tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path)
    host, port = proxy.url.removeprefix("http://").split(":")
    size = 1024 * 1024 + 1
    try:
        with socket.create_connection((host, int(port)), timeout=5) as client:
            head = f"POST /catalog?region=US HTTP/1.1\r\nHost: {host}:{port}\r\n"
            client.sendall(f"{head}Content-Length: {size}\r\n\r\n".encode() + b"x" * size)
            status_line = client.recv(4096).partition(b"\r\n")[0]
    finally:
        proxy.stop()

    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"


def test_discover_refuses_a_q_longer_than_its_limit_with_400(discovery: Service) -> None:
    reply = get(f"{discovery.url}/discover?region=DE&q={'a' * (MAX_QUERY_CHARS + 1)}")

    assert reply.status == 400
    assert reply.json() == {"error": f"q is longer than {MAX_QUERY_CHARS} characters"}


def test_discover_refuses_a_q_with_too_many_words_with_400(discovery: Service) -> None:
    words = quote(" ".join(["ocean"] * (MAX_QUERY_WORDS + 1)))
    reply = get(f"{discovery.url}/discover?region=DE&q={words}")

    assert reply.status == 400
    assert reply.json() == {"error": f"q has more than {MAX_QUERY_WORDS} words"}


def test_ingest_refuses_a_content_length_over_the_body_cap_before_reading() -> None:
    with pytest.raises(IngestError) as refused:
        check_promised_size(MAX_BODY_BYTES + 1)
    assert refused.value.reason == "too_large"


def test_ingest_stops_decompressing_a_gzip_bomb_at_the_body_cap() -> None:
    bomb = gzip.compress(b"\0" * (4 * MAX_BODY_BYTES))
    assert len(bomb) < MAX_BODY_BYTES // 100

    with pytest.raises(IngestError) as refused:
        decode_body(bomb, "gzip")
    assert refused.value.reason == "too_large"


def test_storm_refuses_a_profile_file_over_its_limit(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    huge.write_text('{"DE": {"probability": 1, "types": ["flap"]}}' + " " * MAX_PROFILE_BYTES)

    with pytest.raises(StormError, match=f"larger than {MAX_PROFILE_BYTES // 1024} KiB"):
        load_profile(str(huge))


def test_storm_web_ui_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    locust = str(Path(sys.executable).with_name("locust"))
    cmd = [locust, "-f", str(ROOT / "locustfile.py"), "--web-port", str(port)]
    cmd += ["--csv", str(tmp_path / "storm")]
    with (tmp_path / "locust.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 40
        while not listening_addresses(port) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "locust.log").read_text()[-2000:]
            time.sleep(0.2)
        assert listening_addresses(port) == [LOOPBACK_V4]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
