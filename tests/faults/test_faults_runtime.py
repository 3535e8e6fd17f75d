"""GET /__faults/runtime: asyncio tasks and requests in flight, back to idle after use."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.conftest import Service
from tests.faults.rawhttp import http_json, raw_request
from tests.faults.support import Proxy, only, start_proxy

HELD = 20
TOKEN = "runtime-token-0123456789"


def runtime(proxy: Proxy, token: str | None = None) -> dict[str, int]:
    status, body = http_json(f"{proxy.url}/__faults/runtime", token=token)
    assert status == 200, body
    return dict(body)


def wait_for(proxy: Proxy, expected: dict[str, int], timeout_s: float = 5.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    seen = runtime(proxy)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = runtime(proxy)
    return seen


def settled(proxy: Proxy, timeout_s: float = 5.0) -> dict[str, int]:
    """The first reading equal to the one before it, 0.1 s apart."""
    deadline = time.monotonic() + timeout_s
    before: dict[str, int] = {}
    seen = runtime(proxy)
    while seen != before and time.monotonic() < deadline:
        time.sleep(0.1)
        before, seen = seen, runtime(proxy)
    return seen


def test_held_faults_show_as_tasks_and_in_flight_until_released(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path)
    fresh_proxies.append(proxy)
    for _ in range(5):  # a few kept-alive and closed connections before the idle count
        raw_request(proxy.url, "/catalog", region="US", framed=True)
    idle = settled(proxy)
    proxy.put_profile(only("DE", "slowloris", interval_ms=10_000))
    host, port = proxy.url.removeprefix("http://").split(":")

    clients = [socket.create_connection((host, int(port)), timeout=5) for _ in range(HELD)]
    try:
        for number, client in enumerate(clients):
            request = f"GET /catalog?t=rt-{number} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            client.sendall(f"{request}X-Region: DE\r\n\r\n".encode())
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
        held = runtime(proxy)
    finally:
        for client in clients:
            client.close()

    assert idle["in_flight"] == 0 and idle["tasks"] >= 1
    assert held["in_flight"] == HELD
    assert held["tasks"] >= idle["tasks"] + HELD
    assert wait_for(proxy, idle) == idle


def test_runtime_needs_the_token_when_one_is_set(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path, "--token", TOKEN)
    fresh_proxies.append(proxy)

    assert http_json(f"{proxy.url}/__faults/runtime")[0] == 401
    assert runtime(proxy, TOKEN)["in_flight"] == 0


def test_runtime_needs_get(proxy: Proxy) -> None:
    assert http_json(f"{proxy.url}/__faults/runtime", "POST", {})[0] == 405
