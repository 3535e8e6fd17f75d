"""Held faults cost nothing between their bytes and never slow the other regions down."""

from __future__ import annotations

import itertools
import os
import socket
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from tests.faults.rawhttp import Arrivals, raw_request, timed_request
from tests.faults.support import Proxy, only
from tests.faults.upstream_stub import catalog_body

HELD = 200


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of process `pid` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _slowloris_and_hanging_truncate(interval_ms: int) -> dict[str, object]:
    params = {
        "slowloris": {"interval_ms": interval_ms},
        "truncate": {"end": "hang", "hang_max_ms": 60_000},
    }
    return {"DE": {"probability": 1.0, "types": ["slowloris", "truncate"], "params": params}}


@contextmanager
def held_faults(proxy: Proxy, count: int, interval_ms: int) -> Iterator[None]:
    """`count` DE connections held open by slowloris or a hanging truncate."""
    proxy.put_profile(_slowloris_and_hanging_truncate(interval_ms))
    host, port = proxy.url.removeprefix("http://").split(":")
    clients = []
    try:
        for number in range(count):
            client = socket.create_connection((host, int(port)), timeout=5)
            clients.append(client)
            request = f"GET /catalog?t=held-{number} HTTP/1.1\r\nHost: x\r\nX-Region: DE\r\n\r\n"
            client.sendall(request.encode())
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        yield
    finally:
        for client in clients:
            client.close()


def test_held_connections_cost_no_cpu_between_their_bytes(proxy: Proxy) -> None:
    pid = proxy.service.proc.pid

    with held_faults(proxy, HELD, interval_ms=10_000):
        before_s = _cpu_s(pid)
        time.sleep(1.0)
        spent_s = _cpu_s(pid) - before_s

    # A 20 ms poll per held connection costs about 0.1 s of CPU per second here.
    assert spent_s <= 0.03


def test_clean_regions_stay_fast_while_connections_are_held(proxy: Proxy) -> None:
    with held_faults(proxy, HELD, interval_ms=200):
        started = time.monotonic()
        replies = [raw_request(proxy.url, "/catalog", region="US", framed=True) for _ in range(30)]
        elapsed_s = time.monotonic() - started

    assert all((reply.status, reply.end) == (200, "complete") for reply in replies)
    assert elapsed_s < 1.5


def test_a_client_that_stops_reading_holds_the_fault_without_spinning(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", keep_fraction=0.9))
    host, port = proxy.url.removeprefix("http://").split(":")
    pid = proxy.service.proc.pid

    with socket.socket() as client:
        # A small receive window set before connecting, so the proxy's writes block soon.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect((host, int(port)))
        target = "/catalog?t=stalled&items=40000"
        client.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nX-Region: DE\r\n\r\n".encode())
        time.sleep(0.5)
        before_s = _cpu_s(pid)
        time.sleep(0.5)
        spent_s = _cpu_s(pid) - before_s
    row = proxy.wait_for_row("stalled")

    assert spent_s <= 0.03
    assert row["end"] == "client_gone"
    assert int(row["bytes_written"]) < int(row["bytes_promised"])


def test_slowloris_connections_held_together_each_keep_their_own_pace(proxy: Proxy) -> None:
    # Slow trickles share their timers; each connection must still get one byte per
    # interval from its own start, whichever connections it shares a timer with.
    proxy.put_profile(only("DE", "slowloris", interval_ms=200))

    def held(number: int) -> Arrivals:
        time.sleep(number * 0.013)
        return timed_request(proxy.url, f"/catalog?t=paced-{number}", "DE", duration_s=1.3)

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(held, range(12)))

    for reply in replies:
        times = [at for at, _ in reply.chunks]
        gaps_ms = [(later - earlier) * 1000 for earlier, later in itertools.pairwise(times)]
        assert reply.body == catalog_body("DE")[: len(reply.body)]
        assert len(gaps_ms) >= 4
        assert 180 <= statistics.median(gaps_ms) <= 220
