"""The control API: reset, the token, and the live summary of the counters."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.control import bearer_matches
from tests.conftest import Service
from tests.faults.rawhttp import http_json, raw_request
from tests.faults.support import Proxy, only, run_faults, start_proxy

TOKEN = "0123456789abcdef-token"


@pytest.fixture(scope="module")
def guarded_proxy(upstream: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A loopback proxy started with a token."""
    started = start_proxy(upstream.url, tmp_path_factory.mktemp("guarded"), "--token", TOKEN)
    yield started
    started.stop()


def test_reset_zeroes_counters_and_restarts_the_draws(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap"))
    first = raw_request(proxy.url, "/catalog?t=reset-1", region="DE", framed=True)

    status, answer = http_json(f"{proxy.url}/__faults/reset", "POST")
    again = raw_request(proxy.url, "/catalog?t=reset-2", region="DE", framed=True)

    assert (status, answer) == (200, {"ok": True})
    assert first.status == again.status == 503
    assert http_json(f"{proxy.url}/__faults/counters")[1] == {"DE": {"flap": 1}}


def test_requests_are_counted_per_region_lied_to_or_not(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap"))
    http_json(f"{proxy.url}/__faults/reset", "POST")
    for number in range(3):
        raw_request(proxy.url, f"/catalog?t=count-de-{number}", region="DE", framed=True)
    raw_request(proxy.url, "/catalog?t=count-fr", region="FR", framed=True)
    raw_request(proxy.url, "/catalog?t=count-none", framed=True)

    status, requests = http_json(f"{proxy.url}/__faults/requests")

    assert (status, requests) == (200, {"DE": 3, "FR": 1})
    http_json(f"{proxy.url}/__faults/reset", "POST")
    assert http_json(f"{proxy.url}/__faults/requests")[1] == {}


def test_reset_keeps_the_profile_and_the_ledger(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap", status=502))
    raw_request(proxy.url, "/catalog?t=reset-keep", region="DE", framed=True)

    http_json(f"{proxy.url}/__faults/reset", "POST")

    assert http_json(f"{proxy.url}/__faults/profile")[1]["DE"]["params"]["flap"]["status"] == 502
    assert proxy.wait_for_row("reset-keep")["status"] == "502"


def test_reset_needs_post(proxy: Proxy) -> None:
    assert http_json(f"{proxy.url}/__faults/reset")[0] == 405


def test_token_missing_gets_401(guarded_proxy: Proxy) -> None:
    status, message = http_json(f"{guarded_proxy.url}/__faults/counters")

    assert status == 401
    assert "Authorization: Bearer" in message


def test_token_wrong_gets_401_and_leaves_the_profile(guarded_proxy: Proxy) -> None:
    url = f"{guarded_proxy.url}/__faults/profile"

    status, _ = http_json(url, "PUT", only("DE", "flap"), token=TOKEN + "x")

    assert status == 401
    assert http_json(url, token=TOKEN) == (200, {})


def test_token_right_is_accepted_on_every_control_call(guarded_proxy: Proxy) -> None:
    base = f"{guarded_proxy.url}/__faults"

    assert http_json(f"{base}/health", token=TOKEN) == (200, {"ok": True})
    assert http_json(f"{base}/profile", "PUT", {}, token=TOKEN)[0] == 200
    assert http_json(f"{base}/reset", "POST", token=TOKEN)[0] == 200
    assert http_json(f"{base}/nothing", token=TOKEN)[0] == 404


def test_token_is_not_needed_to_forward(guarded_proxy: Proxy) -> None:
    reply = raw_request(guarded_proxy.url, "/catalog", region="US", framed=True)

    assert (reply.status, reply.end) == (200, "complete")


def test_bearer_comparison_needs_the_exact_token() -> None:
    assert bearer_matches(f"Bearer {TOKEN}", TOKEN)
    assert bearer_matches(f"bearer   {TOKEN} ", TOKEN)
    assert not bearer_matches(f"Basic {TOKEN}", TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not bearer_matches(None, TOKEN)


def test_binding_off_loopback_without_a_token_exits_2() -> None:
    result = run_faults("--listen", "0", "--upstream", "http://127.0.0.1:9", "--host", "0.0.0.0")

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--host 0.0.0.0" in result.stderr and "--token" in result.stderr


def test_a_short_token_exits_2() -> None:
    result = run_faults("--listen", "0", "--upstream", "http://127.0.0.1:9", "--token", "short")

    assert result.returncode == 2
    assert "--token" in result.stderr


def test_bound_off_loopback_the_control_api_needs_the_token(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path, "--host", "0.0.0.0", "--token", TOKEN)
    fresh_proxies.append(proxy)

    assert proxy.url.startswith("http://127.0.0.1:")
    assert http_json(f"{proxy.url}/__faults/health")[0] == 401
    assert http_json(f"{proxy.url}/__faults/health", token=TOKEN) == (200, {"ok": True})


def _summaries(proxy: Proxy, prefix: str) -> list[str]:
    lines = proxy.log_path.read_text().splitlines()
    return [line.partition(prefix)[2] for line in lines if prefix in line]


def test_counters_are_summarized_live_once_per_change_and_at_shutdown(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, tmp_path, "--summary-interval-s", "0.1")
    fresh_proxies.append(proxy)
    proxy.put_profile({**only("DE", "truncate"), **only("FR", "flap")})
    for region in ("DE", "DE", "FR"):
        raw_request(proxy.url, "/catalog", region=region, framed=region == "FR")

    time.sleep(0.5)
    os.kill(proxy.service.proc.pid, signal.SIGTERM)
    proxy.service.proc.wait(timeout=5)

    expected = "DE truncate=2; FR flap=1; in flight 0"
    live = _summaries(proxy, "faults so far: ")
    assert live[-1] == expected
    assert all(earlier != later for earlier, later in itertools.pairwise(live))
    assert len(live) <= 4
    assert _summaries(proxy, "faults at shutdown: ") == [expected]


def test_ready_file_does_not_carry_the_token(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    fresh_proxies.append(start_proxy(upstream.url, tmp_path, "--token", TOKEN))

    ready = next(tmp_path.glob("proxy-ready-*.json")).read_text()

    assert TOKEN not in ready
    assert TOKEN not in fresh_proxies[0].log_path.read_text()
    assert set(json.loads(ready)) == {"url", "seed"}
