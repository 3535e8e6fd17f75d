"""With no fault, what a client receives through the proxy is exactly what the upstream sent.

The stub upstream's /configured answers with exactly the status, headers and body it was
last given (chunked or sized); each test compares a direct fetch with a proxied one.
Only framing may differ: Content-Length, Transfer-Encoding and Connection describe one
hop (RFC 9110 section 7.6.1).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Service
from tests.faults.rawhttp import http_json
from tests.faults.support import Proxy

FRAMING = {"content-length", "transfer-encoding", "connection", "keep-alive"}
DATE = ("Date", "Wed, 01 Jan 2025 00:00:00 GMT")
WELL_KNOWN = (
    "Cache-Control",
    "Content-Type",
    "Content-Language",
    "Content-Disposition",
    "ETag",
    "Expires",
    "Last-Modified",
    "Link",
    "Location",
    "Server",
    "Set-Cookie",
    "Vary",
    "X-Item-Count",
)
VALUE_CHARS = "".join(chr(code) for code in range(0x21, 0x7F)) + " "


@dataclass(frozen=True)
class Seen:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def end_to_end(self) -> list[tuple[str, str]]:
        return [(name, value) for name, value in self.headers if name.lower() not in FRAMING]


def _fetch(url: str, method: str = "GET", region: str = "US") -> Seen:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request(method, "/configured", headers={"X-Region": region})
        response = connection.getresponse()
        body = response.read()
        return Seen(response.status, response.reason, response.getheaders(), body)
    finally:
        connection.close()


def _configure(
    upstream: Service, status: int, headers: list[tuple[str, str]], body: bytes, chunk_bytes: int
) -> None:
    config = {
        "status": status,
        "headers": [list(pair) for pair in headers],
        "body_b64": base64.b64encode(body).decode(),
        "chunk_bytes": chunk_bytes,
    }
    assert http_json(f"{upstream.url}/configure", "POST", config)[0] == 200


def _direct_and_proxied(upstream: Service, proxy: Proxy, method: str = "GET") -> tuple[Seen, Seen]:
    return _fetch(upstream.url, method), _fetch(proxy.url, method)


def test_chunked_reply_is_reframed_with_identical_bytes(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    body = random.Random(1).randbytes(70_000)
    _configure(upstream, 200, [DATE, ("Content-Type", "application/octet-stream")], body, 4096)

    direct, proxied = _direct_and_proxied(upstream, proxy)

    assert ("Transfer-Encoding", "chunked") in direct.headers
    assert ("Content-Length", str(len(body))) in proxied.headers
    assert proxied.body == direct.body == body
    assert proxied.end_to_end() == direct.end_to_end()


def test_head_reply_keeps_the_upstream_content_length(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    _configure(upstream, 200, [DATE, ("Content-Type", "text/plain")], b"x" * 1234, 0)

    direct, proxied = _direct_and_proxied(upstream, proxy, "HEAD")

    assert dict(direct.headers)["Content-Length"] == "1234"
    assert dict(proxied.headers)["Content-Length"] == "1234"
    assert proxied.body == b""


def test_reply_without_server_or_content_type_gains_neither(
    proxy: Proxy, upstream: Service
) -> None:
    proxy.put_profile({})
    _configure(upstream, 200, [DATE, ("X-Only", "this")], b"bytes without a type", 0)

    direct, proxied = _direct_and_proxied(upstream, proxy)
    names = {name.lower() for name, _ in proxied.headers}

    assert "server" not in names and "content-type" not in names
    assert proxied.end_to_end() == direct.end_to_end() == [DATE, ("X-Only", "this")]


def test_reply_without_date_gets_one_as_rfc_9110_asks(proxy: Proxy, upstream: Service) -> None:
    proxy.put_profile({})
    _configure(upstream, 200, [("X-Only", "this")], b"{}", 0)

    direct, proxied = _direct_and_proxied(upstream, proxy)

    assert "Date" not in dict(direct.headers)
    assert "Date" in dict(proxied.headers)
    assert [pair for pair in proxied.end_to_end() if pair[0] != "Date"] == direct.end_to_end()


def test_faulted_region_reply_is_untouched_when_the_kind_finds_nothing_to_corrupt(
    proxy: Proxy, upstream: Service
) -> None:
    proxy.put_profile({"US": {"probability": 1.0, "types": ["truncate"]}})
    _configure(upstream, 503, [DATE, ("Retry-After", "5")], b"busy", 0)

    direct, proxied = _direct_and_proxied(upstream, proxy)

    assert (proxied.status, proxied.body) == (503, b"busy")
    assert proxied.end_to_end() == direct.end_to_end()


@st.composite
def upstream_replies(draw: st.DrawFn) -> tuple[int, list[tuple[str, str]], bytes, int]:
    """A random reply: status, end-to-end headers, body bytes and chunk size (0 = sized)."""
    status = draw(st.sampled_from([200, 201, 204, 301, 404, 500, 503]))
    names = st.one_of(
        st.sampled_from(WELL_KNOWN), st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True)
    )
    values = st.text(VALUE_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool)
    headers = [DATE, *draw(st.lists(st.tuples(names, values), max_size=8))]

    size = draw(st.sampled_from([0, 1, 100, 4096, 65_537, 200_000]))
    body = random.Random(draw(st.integers(0, 2**32))).randbytes(size) if status != 204 else b""
    if body and draw(st.booleans()):
        body = gzip.compress(body, mtime=0)
        headers.append(("Content-Encoding", "gzip"))
    chunk_bytes = draw(st.sampled_from([0, 0, 1000, 65_536]))
    return status, headers, body, chunk_bytes


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(reply=upstream_replies())
def test_random_upstream_replies_pass_through_unchanged(
    proxy: Proxy, upstream: Service, reply: tuple[int, list[tuple[str, str]], bytes, int]
) -> None:
    status, headers, body, chunk_bytes = reply
    proxy.put_profile({})
    _configure(upstream, status, headers, body, chunk_bytes)

    direct, proxied = _direct_and_proxied(upstream, proxy)

    assert (direct.status, direct.body) == (status, body)
    assert (proxied.status, proxied.reason) == (direct.status, direct.reason)
    assert proxied.end_to_end() == direct.end_to_end()
    assert proxied.body == direct.body
