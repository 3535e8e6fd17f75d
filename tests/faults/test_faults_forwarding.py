"""Forwarding: unaltered pass-through, only ever to the configured upstream, and the control API."""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.conftest import Service, free_port, start_service
from tests.faults.rawhttp import http_json, raw_request
from tests.faults.support import Proxy, only, start_proxy
from tests.faults.upstream_stub import catalog_body


def _hits(service_url: str) -> int:
    status, body = http_json(f"{service_url}/hits")
    assert status == 200
    return int(body["count"])


def test_clean_region_pass_through_is_byte_identical(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile(only("DE", "truncate"))

    direct = raw_request(upstream.url, "/catalog?region=US", framed=True)
    proxied = raw_request(proxy.url, "/catalog?region=US", region="US", framed=True)

    assert proxied.status == direct.status == 200
    assert proxied.body == direct.body == catalog_body("US")
    for name in ("content-type", "content-length", "last-modified", "etag", "x-item-count"):
        assert proxied.headers[name] == direct.headers[name]
    assert "date" in proxied.headers


def test_requests_share_pooled_upstream_connections(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    ports_before = http_json(f"{upstream.url}/hits")[1]["ports"]

    for _ in range(6):
        raw_request(proxy.url, "/catalog", region="AU", framed=True)
    ports_after = http_json(f"{upstream.url}/hits")[1]["ports"]

    assert ports_after - ports_before <= 1


def test_ndjson_pass_through_is_byte_identical(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))

    reply = raw_request(proxy.url, "/catalog?format=ndjson", region="GB", framed=True)

    assert reply.body == catalog_body("GB", ndjson=True)


def test_compressed_body_passes_through_still_compressed(proxy: Proxy) -> None:
    proxy.put_profile({})

    reply = raw_request(proxy.url, "/catalog?gzip=1", region="BR", framed=True)

    assert reply.headers["content-encoding"] == "gzip"
    assert reply.body == gzip.compress(catalog_body("BR"), mtime=0)


def test_unknown_or_missing_region_is_forwarded_unfaulted(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))

    unknown = raw_request(proxy.url, "/catalog?region=XX", region="XX", framed=True)
    missing = raw_request(proxy.url, "/catalog", framed=True)

    assert (unknown.status, unknown.end) == (200, "complete")
    assert (missing.status, missing.end) == (200, "complete")


def test_region_from_query_parameter_is_normalized_and_faulted(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))

    reply = raw_request(proxy.url, "/catalog?region=de")

    assert reply.end == "fin"
    assert reply.content_length is not None
    assert len(reply.body) < reply.content_length


def test_request_headers_path_and_query_are_forwarded(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    headers = {
        "If-Modified-Since": "Wed, 01 Jan 2025 00:00:00 GMT",
        "Accept": "application/x-ndjson",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "one hop only",
    }

    reply = raw_request(
        proxy.url, "/echo/a%2Fb?x=1&y=%20", region="FR", headers=headers, framed=True
    )
    seen = {name.lower(): value for name, value in reply.json()["headers"].items()}

    assert reply.json()["path_qs"] == "/echo/a%2Fb?x=1&y=%20"
    assert seen["x-region"] == "FR"
    assert seen["if-modified-since"] == headers["If-Modified-Since"]
    assert seen["accept"] == "application/x-ndjson"
    assert "x-hop" not in seen
    assert seen["host"] == upstream.url.removeprefix("http://")
    assert seen["via"] == "1.1 blast-radius-faults"


def _warnings(proxy: Proxy, marker: str) -> list[str]:
    return [
        line
        for line in proxy.log_path.read_text().splitlines()
        if " WARNING " in line and marker in line
    ]


def test_absolute_form_target_for_another_host_is_refused_and_logged(
    proxy: Proxy, upstream: Service, services: list[Service], tmp_path: Path
) -> None:
    other = start_service(["tests.faults.upstream_stub"], tmp_path)
    services.append(other)
    proxy.put_profile({})
    upstream_hits = _hits(upstream.url)

    reply = raw_request(proxy.url, f"{other.url}/echo?t=abs-other", region="US", framed=True)

    assert reply.status == 421
    assert _hits(other.url) == 0
    assert _hits(upstream.url) == upstream_hits
    assert len(_warnings(proxy, "abs-other")) == 1


def test_absolute_form_target_for_a_loopback_port_is_refused(
    proxy: Proxy, upstream: Service
) -> None:
    upstream_hits = _hits(upstream.url)

    reply = raw_request(proxy.url, f"{upstream.url}/echo?t=abs-port", framed=True)

    assert reply.status == 421
    assert _hits(upstream.url) == upstream_hits
    assert len(_warnings(proxy, "abs-port")) == 1


def test_absolute_form_target_naming_the_proxy_is_served(proxy: Proxy) -> None:
    proxy.put_profile({})

    reply = raw_request(proxy.url, f"{proxy.url}/echo?t=abs-self", region="US", framed=True)

    assert reply.status == 200
    assert reply.json()["path_qs"] == "/echo?t=abs-self"
    assert not _warnings(proxy, "abs-self")


def test_spoofed_host_is_answered_only_by_the_upstream_and_logged(
    proxy: Proxy, upstream: Service, services: list[Service], tmp_path: Path
) -> None:
    other = start_service(["tests.faults.upstream_stub"], tmp_path)
    services.append(other)
    spoofed = other.url.removeprefix("http://")

    replies = [
        raw_request(proxy.url, "/echo?t=host-spoof", host_header=spoofed, framed=True)
        for _ in range(2)
    ]

    assert [reply.status for reply in replies] == [200, 200]
    assert replies[0].json()["headers"]["Host"] == upstream.url.removeprefix("http://")
    assert _hits(other.url) == 0
    assert len(_warnings(proxy, f"Host {spoofed}")) == 1


def test_network_path_target_stays_on_the_upstream(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    upstream_hits = _hits(upstream.url)

    reply = raw_request(proxy.url, "//evil.example/echo?t=netpath", framed=True)

    assert reply.status == 200
    assert reply.json()["path_qs"] == "//evil.example/echo?t=netpath"
    assert _hits(upstream.url) == upstream_hits + 1


def test_upstream_redirect_is_relayed_not_followed(
    proxy: Proxy, services: list[Service], tmp_path: Path
) -> None:
    other = start_service(["tests.faults.upstream_stub"], tmp_path)
    services.append(other)
    proxy.put_profile({})

    reply = raw_request(proxy.url, f"/redirect?to={other.url}/echo", region="US", framed=True)

    assert reply.status == 302
    assert reply.headers["location"] == f"{other.url}/echo"
    assert _hits(other.url) == 0


def test_connect_is_refused_and_logged(proxy: Proxy, upstream: Service) -> None:
    upstream_hits = _hits(upstream.url)

    target = upstream.url.removeprefix("http://")
    authority_form = raw_request(proxy.url, target, method="CONNECT", framed=True)
    origin_form = raw_request(proxy.url, "/catalog?t=connect", method="CONNECT", framed=True)

    assert authority_form.status == origin_form.status == 405
    assert "CONNECT" not in authority_form.headers["allow"]
    assert _hits(upstream.url) == upstream_hits
    assert len(_warnings(proxy, f"refused CONNECT {target}")) >= 1
    assert len(_warnings(proxy, "t=connect")) == 1


def test_foreign_host_log_line_is_sanitized(proxy: Proxy) -> None:
    raw_request(proxy.url, "/echo", host_header="evil\x9b[31m.sanitized", framed=True)

    lines = _warnings(proxy, ".sanitized")

    assert len(lines) == 1
    assert "Host evil?[31m.sanitized from" in lines[0]


def test_malformed_request_logs_one_line_without_traceback(proxy: Proxy) -> None:
    reply = raw_request(proxy.url, "/echo", headers={"X-Bad": "a\x7fb-malformed"}, framed=True)

    log = proxy.log_path.read_text()
    lines = [line for line in log.splitlines() if "refused a malformed request" in line]

    assert reply.status == 400
    assert len(lines) == 1 and " WARNING " in lines[0]
    assert "Traceback" not in log


def test_control_paths_are_never_forwarded(proxy: Proxy, upstream: Service) -> None:
    upstream_hits = _hits(upstream.url)

    wrong_method = raw_request(proxy.url, "/__faults/profile", method="POST", framed=True)
    unknown = raw_request(proxy.url, "/__faults/nothing", framed=True)

    assert wrong_method.status == 405
    assert unknown.status == 404
    assert _hits(upstream.url) == upstream_hits


def test_upstream_unreachable_gives_502(fresh_proxies: list[Proxy], tmp_path: Path) -> None:
    fresh_proxies.append(start_proxy(f"http://127.0.0.1:{free_port()}", tmp_path))

    reply = raw_request(fresh_proxies[0].url, "/catalog", region="US", framed=True)

    assert reply.status == 502
    assert 0 < len(reply.body) < 300


def test_health_answers_ok(proxy: Proxy) -> None:
    assert http_json(f"{proxy.url}/__faults/health") == (200, {"ok": True})


def test_put_profile_swaps_the_profile(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate"))
    faulted = raw_request(proxy.url, "/catalog", region="DE")

    proxy.put_profile({})
    clean = raw_request(proxy.url, "/catalog", region="DE", framed=True)

    assert faulted.end == "fin"
    assert clean.end == "complete"
    assert http_json(f"{proxy.url}/__faults/profile") == (200, {})


def test_get_profile_spells_out_default_params(proxy: Proxy) -> None:
    proxy.put_profile({"de": {"probability": 0.7, "types": ["truncate"]}})

    status, profile = http_json(f"{proxy.url}/__faults/profile")

    assert status == 200
    assert profile["DE"]["params"]["truncate"]["keep_fraction"] == 0.5
    assert profile["DE"]["params"]["truncate"]["end"] == "fin"


def test_put_bad_profile_is_refused_with_400_and_keeps_the_old_one(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap"))

    bad = {"DE": {"probability": 2, "types": ["flap"]}}
    status, message = http_json(f"{proxy.url}/__faults/profile", "PUT", bad)

    assert status == 400
    assert "region DE" in message and "probability" in message
    assert http_json(f"{proxy.url}/__faults/profile")[1]["DE"]["types"] == ["flap"]


def test_counters_count_injected_faults_per_region_and_kind(proxy: Proxy) -> None:
    before = http_json(f"{proxy.url}/__faults/counters")[1]
    proxy.put_profile(only("JP", "valid_garbage"))

    for _ in range(3):
        raw_request(proxy.url, "/catalog", region="JP", framed=True)
    raw_request(proxy.url, "/catalog", region="KR", framed=True)
    after = http_json(f"{proxy.url}/__faults/counters")[1]

    earlier = before.get("JP", {}).get("valid_garbage", 0)
    assert after["JP"]["valid_garbage"] == earlier + 3
    assert "KR" not in after
