"""The framing, encoding, body-type and header fault kinds, byte by byte on a raw socket.

Each test starts from a real proxy process in front of the stub upstream and reads the
reply with tests/faults/rawhttp.py: the header block as written, every body byte after
it and how the connection ended (FIN, RST, or a complete framed body), then compares
the ledger row with it.
"""

from __future__ import annotations

import gzip
import http.client
import json
import time
import urllib.request
import zlib
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from faults.errors import ProfileError
from faults.profile import parse_profile
from faults.registry import KINDS
from tests.conftest import ROOT, Service
from tests.faults.rawhttp import RawReply, http_json, raw_request, two_requests_on_one_connection
from tests.faults.support import Proxy, only
from tests.faults.upstream_stub import ITEMS_PER_CATALOG, catalog_body

BODY = catalog_body("DE")
SIZE = len(BODY)
NDJSON = catalog_body("DE", ndjson=True)
DAY_S = 86400


def _catalog(marker: str, extra: str = "") -> str:
    return f"/catalog?t={marker}{extra}"


def _hits(upstream: Service) -> int:
    count: int = http_json(f"{upstream.url}/hits")[1]["count"]
    return count


def _urlopen(proxy: Proxy, target: str) -> bytes:
    request = urllib.request.Request(proxy.url + target, headers={"X-Region": "DE"})
    with urllib.request.urlopen(request, timeout=5) as response:
        data: bytes = response.read()
    return data


def _row_matches(row: dict[str, str], reply: RawReply, end: str, connection: str) -> None:
    promised = "" if reply.content_length is None else str(reply.content_length)
    assert (row["status"], row["bytes_promised"]) == (str(reply.status), promised)
    assert int(row["bytes_written"]) == len(reply.body)
    assert (row["end"], row["connection"]) == (end, connection)


def _chunked(data: bytes, size: int) -> list[bytes]:
    return [
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (data[start : start + size] for start in range(0, len(data), size))
    ]


def _compressed(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


# complete_then_close


@pytest.mark.parametrize("end", ["fin", "rst"])
def test_complete_then_close_sends_every_byte_under_a_true_length_then_ends(
    proxy: Proxy, end: str
) -> None:
    proxy.put_profile(only("DE", "complete_then_close", end=end))

    reply = raw_request(proxy.url, _catalog(f"whole-{end}"), region="DE")
    row = proxy.wait_for_row(f"whole-{end}")

    assert reply.status == 200
    assert reply.content_length == SIZE
    assert reply.body == BODY
    assert "connection" not in reply.headers
    assert reply.end == end
    _row_matches(row, reply, end, "closed")


@pytest.mark.parametrize("end", ["fin", "rst"])
def test_complete_then_close_is_accepted_by_a_client_that_reads_the_framed_body(
    proxy: Proxy, end: str
) -> None:
    proxy.put_profile(only("DE", "complete_then_close", end=end))

    assert _urlopen(proxy, _catalog(f"whole-client-{end}")) == BODY


def test_complete_then_close_fails_a_client_that_reuses_the_closed_connection(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "complete_then_close"))
    host, port = proxy.url.removeprefix("http://").split(":")
    client = http.client.HTTPConnection(host, int(port), timeout=5)

    client.request("GET", _catalog("whole-reuse"), headers={"X-Region": "DE"})
    first = client.getresponse().read()
    # Give the FIN time to arrive, as on an idle pooled connection.
    time.sleep(0.2)
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        client.request("GET", _catalog("whole-reuse-next"), headers={"X-Region": "DE"})
        client.getresponse()
    client.close()

    assert first == BODY


# chunked_truncate


def test_chunked_truncate_mid_chunk_announces_a_chunk_and_sends_part_of_it(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "chunked_truncate", chunk_bytes=1000, keep_fraction=0.25))

    reply = raw_request(proxy.url, _catalog("chunk-mid"), region="DE")
    row = proxy.wait_for_row("chunk-mid")
    cut = int(SIZE * 0.25)
    whole = cut // 1000

    assert reply.status == 200
    assert reply.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in reply.headers
    assert (
        reply.body == b"".join(_chunked(BODY, 1000)[:whole]) + b"3e8\r\n" + BODY[whole * 1000 : cut]
    )
    assert cut % 1000 != 0
    assert reply.end == "fin"
    _row_matches(row, reply, "fin", "closed")


def test_chunked_truncate_bare_crlf_replaces_the_last_chunk(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "chunked_truncate", mode="bare_crlf"))

    reply = raw_request(proxy.url, _catalog("chunk-bare"), region="DE")
    row = proxy.wait_for_row("chunk-bare")

    assert reply.body == b"".join(_chunked(BODY, 1024)) + b"\r\n"
    assert not reply.body.endswith(b"\r\n0\r\n\r\n")
    assert reply.end == "fin"
    _row_matches(row, reply, "fin", "closed")


def test_chunked_truncate_no_final_crlf_ends_after_the_last_chunk_line(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "chunked_truncate", mode="no_final_crlf", chunk_bytes=4096))

    reply = raw_request(proxy.url, _catalog("chunk-nofinal"), region="DE")
    row = proxy.wait_for_row("chunk-nofinal")

    assert reply.body == b"".join(_chunked(BODY, 4096)) + b"0\r\n"
    assert reply.end == "fin"
    _row_matches(row, reply, "fin", "closed")


def test_chunked_truncate_mid_chunk_at_a_chunk_boundary_sends_a_size_line_only(
    proxy: Proxy,
) -> None:
    cut = int(SIZE * 0.5)
    proxy.put_profile(only("DE", "chunked_truncate", chunk_bytes=cut, keep_fraction=0.5))

    reply = raw_request(proxy.url, _catalog("chunk-edge"), region="DE")
    next_chunk = BODY[cut : 2 * cut]

    assert reply.body == _chunked(BODY, cut)[0] + f"{len(next_chunk):x}\r\n".encode()
    assert reply.end == "fin"


# unframed_truncate


def test_unframed_truncate_sends_no_length_connection_close_and_part_of_the_body(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "unframed_truncate"))

    reply = raw_request(proxy.url, _catalog("unframed"), region="DE")
    row = proxy.wait_for_row("unframed")

    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert "content-length" not in reply.headers
    assert "transfer-encoding" not in reply.headers
    assert reply.headers["x-item-count"] == str(ITEMS_PER_CATALOG)
    assert reply.body == BODY[: SIZE // 2]
    assert reply.end == "fin"
    _row_matches(row, reply, "fin", "closed")


def test_unframed_truncate_keep_bytes_then_rst(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "unframed_truncate", keep_bytes=1000, end="rst"))

    reply = raw_request(proxy.url, _catalog("unframed-rst"), region="DE")
    row = proxy.wait_for_row("unframed-rst")

    assert reply.body == BODY[:1000]
    assert reply.end == "rst"
    _row_matches(row, reply, "rst", "closed")


def test_unframed_truncate_reads_as_a_whole_body_to_an_http_client(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "unframed_truncate", keep_fraction=0.3))

    assert _urlopen(proxy, _catalog("unframed-client")) == BODY[: int(SIZE * 0.3)]


def test_unframed_truncate_align_line_cuts_ndjson_at_a_line_end(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "unframed_truncate", keep_fraction=0.5, align="line"))

    target = _catalog("unframed-line", "&format=ndjson")
    reply = raw_request(proxy.url, target, region="DE")
    row = proxy.wait_for_row("unframed-line")
    kept = NDJSON[: len(NDJSON) // 2].rfind(b"\n") + 1
    lines = [json.loads(line) for line in reply.body.splitlines()]

    assert reply.body == NDJSON[:kept]
    assert reply.body.endswith(b"\n")
    assert [line["id"] for line in lines] == [f"DE-{n:04d}" for n in range(len(lines))]
    assert 0 < len(lines) < ITEMS_PER_CATALOG
    assert reply.headers["x-item-count"] == str(ITEMS_PER_CATALOG)
    _row_matches(row, reply, "fin", "closed")


def test_unframed_truncate_align_line_drops_a_last_line_even_at_full_length(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "unframed_truncate", keep_bytes=len(NDJSON), align="line"))

    reply = raw_request(proxy.url, _catalog("unframed-full", "&format=ndjson"), region="DE")

    assert reply.body == NDJSON[: NDJSON[:-1].rfind(b"\n") + 1]
    assert len(reply.body.splitlines()) == ITEMS_PER_CATALOG - 1


def test_unframed_truncate_align_line_without_a_newline_sends_nothing(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "unframed_truncate", align="line"))

    reply = raw_request(proxy.url, _catalog("unframed-noline"), region="DE")

    assert (reply.status, reply.body, reply.end) == (200, b"", "fin")
    assert proxy.wait_for_row("unframed-noline")["bytes_written"] == "0"


# encoding_truncate


def test_encoding_truncate_gzips_an_identity_body_and_cuts_it_with_a_true_length(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "encoding_truncate"))

    reply = raw_request(proxy.url, _catalog("enc-gzip"), region="DE", framed=True)
    row = proxy.wait_for_row("enc-gzip")
    stream = _compressed(BODY, 31)
    decoder = zlib.decompressobj(31)
    decoded = decoder.decompress(reply.body)

    assert reply.headers["content-encoding"] == "gzip"
    assert reply.content_length == len(reply.body) == len(stream) // 2
    assert reply.body == stream[: len(stream) // 2]
    assert reply.end == "complete"
    assert 0 < len(decoded) < SIZE
    assert decoded == BODY[: len(decoded)]
    assert not decoder.eof
    _row_matches(row, reply, "complete", "reusable")


def test_encoding_truncate_cuts_the_upstreams_own_gzip_stream(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "encoding_truncate", keep_fraction=0.4))

    reply = raw_request(proxy.url, _catalog("enc-own", "&gzip=1"), region="DE", framed=True)
    upstream_stream = gzip.compress(BODY, mtime=0)

    assert reply.body == upstream_stream[: int(len(upstream_stream) * 0.4)]
    assert reply.content_length == len(reply.body)


def test_encoding_truncate_deflate_stops_just_before_the_adler32_trailer(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "encoding_truncate", encoding="deflate", keep_fraction=0.999))

    reply = raw_request(proxy.url, _catalog("enc-deflate"), region="DE", framed=True)
    stream = _compressed(BODY, 15)
    decoder = zlib.decompressobj(15)

    assert reply.headers["content-encoding"] == "deflate"
    assert reply.body == stream[:-4]
    assert decoder.decompress(reply.body) == BODY
    assert not decoder.eof


def test_encoding_truncate_deflate_recodes_an_upstream_gzip_body(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "encoding_truncate", encoding="deflate"))

    reply = raw_request(proxy.url, _catalog("enc-recode", "&gzip=1"), region="DE", framed=True)
    stream = _compressed(BODY, 15)

    assert reply.headers["content-encoding"] == "deflate"
    assert reply.body == stream[: len(stream) // 2]


def test_encoding_truncate_leaves_the_connection_fit_for_the_next_request(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "encoding_truncate"))

    first, second, _ = two_requests_on_one_connection(
        proxy.url, _catalog("enc-keep"), _catalog("enc-keep-next"), region="DE"
    )

    assert first.content_length == len(first.body)
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")
    assert proxy.wait_for_row("enc-keep-next")["connection"] == "reusable"


# wrong_body_type


@pytest.mark.parametrize(
    ("mode", "title"),
    [
        ("maintenance", b"<title>Down for maintenance</title>"),
        ("captive_portal", b"<title>Sign in to the network</title>"),
        ("challenge", b"<title>Just a moment...</title>"),
    ],
)
def test_wrong_body_type_answers_200_with_an_html_page_without_asking_upstream(
    proxy: Proxy, upstream: Service, mode: str, title: bytes
) -> None:
    proxy.put_profile(only("DE", "wrong_body_type", mode=mode))
    hits_before = _hits(upstream)

    reply = raw_request(proxy.url, _catalog(f"html-{mode}"), region="DE", framed=True)
    row = proxy.wait_for_row(f"html-{mode}")

    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.body.startswith(b"<!DOCTYPE html>\n<html>")
    assert title in reply.body
    assert reply.content_length == len(reply.body)
    assert _hits(upstream) == hits_before
    _row_matches(row, reply, "complete", "reusable")


def test_wrong_body_type_can_label_the_page_as_json(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "wrong_body_type", content_type="application/json"))

    reply = raw_request(proxy.url, _catalog("html-json"), region="DE", framed=True)

    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    with pytest.raises(json.JSONDecodeError):
        reply.json()


# retry_after_lie


@pytest.mark.parametrize(
    ("status", "mode", "value"),
    [(503, "negative", "-120"), (429, "huge", "4294967296"), (503, "unparsable", "soon")],
)
def test_retry_after_lie_sends_the_status_and_the_lying_value(
    proxy: Proxy, upstream: Service, status: int, mode: str, value: str
) -> None:
    proxy.put_profile(only("DE", "retry_after_lie", status=status, mode=mode))
    hits_before = _hits(upstream)

    reply = raw_request(proxy.url, _catalog(f"retry-{mode}"), region="DE", framed=True)
    row = proxy.wait_for_row(f"retry-{mode}")

    assert reply.status == status
    assert reply.headers["retry-after"] == value
    assert reply.body == f"retry_after_lie: injected {status}\n".encode()
    assert _hits(upstream) == hits_before
    _row_matches(row, reply, "complete", "reusable")


def test_retry_after_lie_past_date_is_a_day_before_the_reply_date(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "retry_after_lie", status=429, mode="past_date"))

    reply = raw_request(proxy.url, _catalog("retry-past"), region="DE", framed=True)
    retry_at = parsedate_to_datetime(reply.headers["retry-after"]).timestamp()
    dated = parsedate_to_datetime(reply.headers["date"]).timestamp()

    assert reply.status == 429
    assert reply.headers["retry-after"].endswith(" GMT")
    assert dated - retry_at == DAY_S
    assert abs(dated - time.time()) < 60


# clock_skew, mode modified_after_date


def test_clock_skew_modified_after_date_puts_last_modified_after_a_true_date(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "clock_skew", mode="modified_after_date", offset_s=3600))

    reply = raw_request(proxy.url, _catalog("skew-after"), region="DE", framed=True)
    row = proxy.wait_for_row("skew-after")
    dated = parsedate_to_datetime(reply.headers["date"]).timestamp()
    modified = parsedate_to_datetime(reply.headers["last-modified"]).timestamp()

    assert reply.body == BODY
    assert abs(dated - time.time()) < 60
    assert modified - dated == 3600
    _row_matches(row, reply, "complete", "reusable")


# valid_garbage, mode shrink


def test_valid_garbage_shrink_keeps_a_tenth_with_counts_that_agree(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="shrink"))

    reply = raw_request(proxy.url, _catalog("shrink"), region="DE", framed=True)
    row = proxy.wait_for_row("shrink")
    document = reply.json()
    kept = ITEMS_PER_CATALOG // 10

    assert document["items"] == json.loads(BODY)["items"][:kept]
    assert document["item_count"] == kept
    assert reply.headers["x-item-count"] == str(kept)
    assert (document["region"], document["generation"]) == ("DE", 7)
    _row_matches(row, reply, "complete", "reusable")


def test_valid_garbage_shrink_keep_items_on_ndjson(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="shrink", keep_items=3))

    target = _catalog("shrink-nd", "&format=ndjson")
    reply = raw_request(proxy.url, target, region="DE", framed=True)

    lines = [json.loads(line) for line in reply.body.splitlines(keepends=True)]

    assert reply.body.endswith(b"\n")
    assert lines == [json.loads(line) for line in NDJSON.splitlines()[:3]]
    assert reply.headers["x-item-count"] == "3"


def test_valid_garbage_shrink_always_drops_an_item(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="shrink", keep_items=1000))

    reply = raw_request(proxy.url, _catalog("shrink-cap"), region="DE", framed=True)

    assert reply.json()["item_count"] == len(reply.json()["items"]) == ITEMS_PER_CATALOG - 1


def test_valid_garbage_shrink_forwards_an_empty_list_unfaulted(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="shrink"))

    reply = raw_request(proxy.url, _catalog("shrink-none", "&items=0"), region="DE", framed=True)

    assert reply.body == catalog_body("DE", item_count=0)
    assert not [row for row in proxy.ledger_rows() if "shrink-none" in row["path"]]


# Every kind of this file: the ledger row is what the socket saw, and no traceback is logged.

RAW_END_OF = {"fin": "fin", "rst": "rst", "complete": "complete"}
FRAMING_AND_HEADER_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("complete_then_close", {"end": "fin"}),
    ("complete_then_close", {"end": "rst"}),
    ("chunked_truncate", {"mode": "mid_chunk"}),
    ("chunked_truncate", {"mode": "bare_crlf"}),
    ("chunked_truncate", {"mode": "no_final_crlf"}),
    ("unframed_truncate", {"keep_fraction": 0.7}),
    ("unframed_truncate", {"end": "rst"}),
    ("encoding_truncate", {"encoding": "gzip"}),
    ("encoding_truncate", {"encoding": "deflate"}),
    ("wrong_body_type", {"mode": "challenge"}),
    ("retry_after_lie", {"status": 429}),
    ("clock_skew", {"mode": "modified_after_date"}),
    ("valid_garbage", {"mode": "shrink"}),
]
COMPLETE = (
    "encoding_truncate",
    "wrong_body_type",
    "retry_after_lie",
    "clock_skew",
    "valid_garbage",
)


@pytest.mark.parametrize(("kind", "params"), FRAMING_AND_HEADER_KINDS)
def test_ledger_row_of_framing_and_header_kinds_matches_the_socket(
    proxy: Proxy, kind: str, params: dict[str, Any]
) -> None:
    proxy.put_profile(only("DE", kind, **params))
    marker = f"seen-{kind}-{'-'.join(f'{k}{v}' for k, v in params.items())}"

    complete = kind in COMPLETE
    reply = raw_request(proxy.url, f"/catalog?t={marker}", region="DE", framed=complete)
    row = proxy.wait_for_row(marker)

    assert RAW_END_OF[row["end"]] == reply.end
    _row_matches(row, reply, row["end"], "reusable" if complete else "closed")
    assert json.loads(row["params"]) == {**json.loads(row["params"]), **params}


def test_framing_kinds_log_no_tracebacks(proxy: Proxy) -> None:
    for kind, params in FRAMING_AND_HEADER_KINDS:
        if kind in COMPLETE:
            continue
        marker = f"calm-{kind}-{'-'.join(f'{k}{v}' for k, v in params.items())}"
        proxy.put_profile(only("DE", kind, **params))
        raw_request(proxy.url, _catalog(marker), region="DE", timeout_s=0.5)
        proxy.wait_for_row(marker)

    log = proxy.log_path.read_text()

    assert "kind=chunked_truncate" in log
    assert "Traceback" not in log
    assert "Error handling request" not in log


# Profile validation of these params


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("complete_then_close", {"end": "hang"}, "end"),
        ("chunked_truncate", {"mode": "zero_chunk"}, "mode"),
        ("chunked_truncate", {"chunk_bytes": 0}, "chunk_bytes"),
        ("unframed_truncate", {"align": "word"}, "align"),
        ("unframed_truncate", {"keep_fraction": 1}, "keep_fraction"),
        ("encoding_truncate", {"encoding": "br"}, "encoding"),
        ("wrong_body_type", {"content_type": "text/plain"}, "content_type"),
        ("retry_after_lie", {"status": 500}, "status"),
        ("retry_after_lie", {"mode": "zero"}, "mode"),
        ("clock_skew", {"mode": "modified_after_date", "offset_s": -60}, "offset_s"),
        ("valid_garbage", {"mode": "shrink", "keep_items": -1}, "keep_items"),
        ("valid_garbage", {"keep_fraction": "0.5"}, "keep_fraction"),
    ],
)
def test_params_are_validated_at_load_time_naming_region_kind_and_field(
    kind: str, params: dict[str, Any], field: str
) -> None:
    text = json.dumps(only("DE", kind, **params))

    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "profiles/x.json")

    message = str(caught.value)
    assert message.startswith(f"profiles/x.json: region DE, kind {kind}, field params.{kind}.")
    assert f"field params.{kind}.{field}:" in message
    assert "\n" not in message


def test_modified_after_date_with_a_past_offset_says_the_fix() -> None:
    text = json.dumps(only("DE", "clock_skew", mode="modified_after_date", offset_s=0))

    with pytest.raises(ProfileError, match=r"must be > 0 with mode modified_after_date"):
        parse_profile(text, "profiles/x.json")


def test_put_profile_refuses_a_bad_new_param_and_keeps_the_old_profile(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "complete_then_close"))

    status, body = http_json(
        f"{proxy.url}/__faults/profile", "PUT", only("DE", "encoding_truncate", encoding="br")
    )
    installed = http_json(f"{proxy.url}/__faults/profile")[1]

    assert status == 400
    assert "kind encoding_truncate, field params.encoding_truncate.encoding" in body
    assert installed["DE"]["types"] == ["complete_then_close"]


def test_every_kind_and_param_has_its_catalogue_entry() -> None:
    catalogue = (ROOT / "docs" / "faults.md").read_text()
    sections = dict(
        (part.split("\n", 1)[0].strip(), part) for part in catalogue.split("\n### ")[1:]
    )

    for name, kind in KINDS.items():
        assert name in sections, f"docs/faults.md has no section for {name}"
        for param in kind.params_model.model_fields:
            assert f"| `{param}` |" in sections[name], f"{name}.{param} is not in its table"
