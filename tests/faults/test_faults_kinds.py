"""Each fault kind, checked byte by byte on a raw socket through a real proxy process."""

from __future__ import annotations

import http.client
import itertools
import json
import statistics
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest

from tests.conftest import Service
from tests.faults.rawhttp import (
    http_json,
    raw_request,
    timed_request,
    two_requests_on_one_connection,
)
from tests.faults.support import Proxy, only
from tests.faults.upstream_stub import EXPIRES, ITEMS_PER_CATALOG, LAST_MODIFIED, catalog_body

BODY = catalog_body("DE")
SIZE = len(BODY)


def _catalog(marker: str, extra: str = "") -> str:
    return f"/catalog?t={marker}{extra}"


def test_slowloris_promises_full_length_and_trickles_one_byte_per_interval(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "slowloris", interval_ms=20))

    reply = raw_request(proxy.url, _catalog("slow-pace"), region="DE", timeout_s=0.6)

    assert reply.status == 200
    assert reply.content_length == SIZE
    assert reply.end == "timeout"
    assert 8 <= len(reply.body) <= 32
    assert reply.body == BODY[: len(reply.body)]


def test_slowloris_never_sends_the_last_byte(proxy: Proxy) -> None:
    small = catalog_body("DE", item_count=1)
    proxy.put_profile(only("DE", "slowloris", interval_ms=1))

    reply = raw_request(proxy.url, _catalog("slow-last", "&items=1"), region="DE", timeout_s=1.0)

    assert reply.content_length == len(small)
    assert reply.end == "timeout"
    assert reply.body == small[:-1]


def test_slowloris_trickles_at_interval_ms_within_ten_percent(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "slowloris", interval_ms=100))

    arrivals = timed_request(proxy.url, _catalog("slow-rate"), "DE", duration_s=1.25)
    times = [at for at, _ in arrivals.chunks]
    gaps_ms = [(later - earlier) * 1000 for earlier, later in itertools.pairwise(times)]

    assert all(size == 1 for _, size in arrivals.chunks)
    assert len(gaps_ms) >= 9
    assert 90 <= statistics.median(gaps_ms) <= 110


def test_slowloris_closes_with_fin_after_max_duration(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "slowloris", interval_ms=20, max_duration_ms=300))

    reply = raw_request(proxy.url, _catalog("slow-max"), region="DE", timeout_s=4.0)

    assert reply.end == "fin"
    assert 0.25 <= reply.elapsed_s < 2.5
    assert 0 < len(reply.body) < SIZE
    assert proxy.wait_for_row("slow-max")["end"] == "fin"


def test_slowloris_stops_when_the_client_leaves(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "slowloris", interval_ms=20))

    raw_request(proxy.url, _catalog("slow-gone"), region="DE", timeout_s=0.3)
    row = proxy.wait_for_row("slow-gone", timeout_s=3.0)

    assert row["end"] == "client_gone"
    assert 250 <= float(row["connected_ms"]) < 2000
    assert int(row["bytes_written"]) < 100


def test_truncate_sends_keep_fraction_then_fin(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", keep_fraction=0.25))

    reply = raw_request(proxy.url, _catalog("trunc-fin"), region="DE")

    assert reply.status == 200
    assert reply.content_length == SIZE
    assert reply.body == BODY[: int(SIZE * 0.25)]
    assert reply.end == "fin"


def test_truncate_keep_bytes_then_rst(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", keep_bytes=1000, end="rst"))

    reply = raw_request(proxy.url, _catalog("trunc-rst"), region="DE")

    assert reply.content_length == SIZE
    assert reply.body == BODY[:1000]
    assert reply.end == "rst"


def test_truncate_keep_bytes_beyond_the_body_still_truncates(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", keep_bytes=10 * SIZE))

    reply = raw_request(proxy.url, _catalog("trunc-cap"), region="DE")

    assert reply.body == BODY[:-1]
    assert reply.end == "fin"


def test_truncate_hang_keeps_the_connection_open(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", end="hang", hang_max_ms=10_000))

    reply = raw_request(proxy.url, _catalog("trunc-hang"), region="DE", timeout_s=0.5)

    assert reply.end == "timeout"
    assert reply.body == BODY[: SIZE // 2]
    assert proxy.wait_for_row("trunc-hang")["end"] == "client_gone"


def test_truncate_hang_closes_after_its_limit(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "truncate", end="hang", hang_max_ms=300))

    reply = raw_request(proxy.url, _catalog("trunc-limit"), region="DE", timeout_s=4.0)

    assert reply.end == "fin"
    assert reply.elapsed_s >= 0.28
    assert proxy.wait_for_row("trunc-limit")["end"] == "hang"


def test_lie_length_negative_sends_fewer_bytes_than_promised_then_fin(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "lie_length"))

    reply = raw_request(proxy.url, _catalog("lie-short"), region="DE")

    assert reply.content_length == SIZE
    assert reply.body == BODY[: SIZE - 32]
    assert reply.end == "fin"


def test_lie_length_positive_frames_a_short_body_and_sends_stray_bytes(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "lie_length", delta_bytes=100, keep_open_ms=0))

    reply = raw_request(proxy.url, _catalog("lie-long"), region="DE")

    assert reply.content_length == SIZE - 100
    assert reply.body == BODY
    assert reply.end == "fin"
    assert proxy.wait_for_row("lie-long")["connection"] == "closed"


def test_lie_length_positive_desyncs_the_next_request_on_the_connection(
    proxy: Proxy, upstream: Service
) -> None:
    proxy.put_profile(only("DE", "lie_length", delta_bytes=100))
    hits_before = http_json(f"{upstream.url}/hits")[1]["count"]

    first, second, end = two_requests_on_one_connection(
        proxy.url, _catalog("lie-desync"), _catalog("lie-desync-next"), region="DE"
    )
    row = proxy.wait_for_row("lie-desync")

    assert first.body == BODY[: SIZE - 100]
    assert second == BODY[SIZE - 100 :]
    assert not second.startswith(b"HTTP/")
    assert end == "fin"
    assert (row["end"], row["connection"]) == ("reused", "poisoned")
    assert int(row["bytes_written"]) - int(row["bytes_promised"]) == len(second)
    assert not [row for row in proxy.ledger_rows() if "lie-desync-next" in row["path"]]
    assert http_json(f"{upstream.url}/hits")[1]["count"] == hits_before + 1


def test_http_client_reusing_a_poisoned_connection_fails_the_next_request(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "lie_length", delta_bytes=100))
    parts = urlsplit(proxy.url)
    assert parts.hostname is not None and parts.port is not None
    client = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)

    client.request("GET", _catalog("lie-client"), headers={"X-Region": "DE"})
    first = client.getresponse().read()
    client.request("GET", _catalog("lie-client-next"), headers={"X-Region": "DE"})
    with pytest.raises(http.client.HTTPException):
        client.getresponse()
    client.close()

    assert first == BODY[: SIZE - 100]
    assert proxy.wait_for_row("lie-client")["end"] == "reused"


def test_lie_length_poisoned_connection_closes_after_keep_open_ms(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "lie_length", delta_bytes=10, keep_open_ms=300))

    reply = raw_request(proxy.url, _catalog("lie-linger"), region="DE", timeout_s=4.0)
    row = proxy.wait_for_row("lie-linger")

    assert reply.end == "fin"
    assert 0.28 <= reply.elapsed_s < 2.5
    assert reply.body == BODY
    assert (row["end"], row["connection"]) == ("fin", "poisoned")


def test_valid_garbage_empty_keeps_other_keys_and_frames_correctly(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage"))

    reply = raw_request(proxy.url, _catalog("garbage-empty"), region="DE", framed=True)

    assert reply.status == 200
    assert reply.end == "complete"
    assert reply.content_length == len(reply.body)
    assert reply.json() == {"region": "DE", "generation": 7, "item_count": 0, "items": []}
    assert reply.headers["x-item-count"] == "0"


def test_valid_garbage_null_ids_keeps_items_without_ids(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="null_ids"))

    reply = raw_request(proxy.url, _catalog("garbage-null"), region="DE", framed=True)
    items = reply.json()["items"]

    assert len(items) == ITEMS_PER_CATALOG
    assert all(item["id"] is None for item in items)
    assert items[3]["title"] == json.loads(BODY)["items"][3]["title"]


def test_valid_garbage_decodes_a_gzip_body_and_sends_plain_garbage(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage"))

    reply = raw_request(proxy.url, _catalog("garbage-gzip", "&gzip=1"), region="DE", framed=True)

    assert "content-encoding" not in reply.headers
    assert reply.json()["items"] == []


def test_valid_garbage_ndjson_empty_is_an_empty_body(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage"))

    target = _catalog("garbage-nd-empty", "&format=ndjson")
    reply = raw_request(proxy.url, target, region="DE", framed=True)

    assert reply.status == 200
    assert reply.content_length == 0
    assert reply.body == b""
    assert reply.headers["content-type"].startswith("application/x-ndjson")


def test_valid_garbage_ndjson_null_ids_keeps_lines(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="null_ids"))

    target = _catalog("garbage-nd-null", "&format=ndjson")
    reply = raw_request(proxy.url, target, region="DE", framed=True)
    lines = [json.loads(line) for line in reply.body.splitlines()]

    assert reply.content_length == len(reply.body)
    assert len(lines) == ITEMS_PER_CATALOG
    assert all(line["id"] is None and line["region"] == "DE" for line in lines)


def test_valid_garbage_wrong_types_swaps_every_value_type(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="wrong_types"))

    reply = raw_request(proxy.url, _catalog("garbage-types"), region="DE", framed=True)
    document = reply.json()
    original = json.loads(BODY)["items"][5]

    assert document["item_count"] == len(document["items"]) == ITEMS_PER_CATALOG
    assert document["items"][5] == {key: len(value) for key, value in original.items()}
    assert reply.headers["x-item-count"] == str(ITEMS_PER_CATALOG)


def test_valid_garbage_duplicated_items_keeps_the_count_but_repeats_the_first_half(
    proxy: Proxy,
) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="duplicated_items"))

    reply = raw_request(proxy.url, _catalog("garbage-dup"), region="DE", framed=True)
    ids = [item["id"] for item in reply.json()["items"]]
    half = ITEMS_PER_CATALOG // 2

    assert len(ids) == ITEMS_PER_CATALOG
    assert ids[:half] == ids[half:] == [f"DE-{number:04d}" for number in range(half)]
    assert reply.content_length == len(reply.body)


def test_valid_garbage_ndjson_duplicated_items_repeats_lines(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="duplicated_items"))

    target = _catalog("garbage-nd-dup", "&format=ndjson&items=5")
    reply = raw_request(proxy.url, target, region="DE", framed=True)
    ids = [json.loads(line)["id"] for line in reply.body.splitlines()]

    assert ids == ["DE-0000", "DE-0001", "DE-0002", "DE-0000", "DE-0001"]
    assert reply.headers["x-item-count"] == "5"


def test_valid_garbage_duplicated_items_forwards_a_single_item_unfaulted(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "valid_garbage", mode="duplicated_items"))

    reply = raw_request(proxy.url, _catalog("garbage-one", "&items=1"), region="DE", framed=True)

    assert reply.body == catalog_body("DE", item_count=1)
    assert not [row for row in proxy.ledger_rows() if "garbage-one" in row["path"]]


def test_flap_alternates_503_and_the_forwarded_reply(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap"))

    replies = [
        raw_request(proxy.url, _catalog(f"flap-{n}"), region="DE", framed=True) for n in range(4)
    ]

    assert [reply.status for reply in replies] == [503, 200, 503, 200]
    assert replies[1].body == BODY


def test_flap_state_is_never_shared_between_regions(proxy: Proxy) -> None:
    profile = {**only("DE", "flap"), **only("FR", "flap")}
    proxy.put_profile(profile)

    order = ["DE", "DE", "FR", "DE", "FR", "FR"]
    statuses = [
        raw_request(proxy.url, _catalog(f"flap-mix-{n}"), region=region, framed=True).status
        for n, region in enumerate(order)
    ]

    assert statuses == [503, 200, 503, 503, 200, 503]


def test_flap_bad_count_and_good_count_shape_the_pattern(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap", bad_count=2, good_count=1))

    statuses = [
        raw_request(proxy.url, _catalog(f"flap-count-{n}"), region="DE", framed=True).status
        for n in range(6)
    ]

    assert statuses == [503, 503, 200, 503, 503, 200]


def test_false_recovery_serves_only_the_first_request_after_a_quiet_spell(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "false_recovery", quiet_ms=1000))

    first = raw_request(proxy.url, _catalog("lure-1"), region="DE", framed=True)
    time.sleep(1.1)
    served = raw_request(proxy.url, _catalog("lure-2"), region="DE", framed=True)
    after = [
        raw_request(proxy.url, _catalog(f"lure-{n}"), region="DE", framed=True) for n in (3, 4)
    ]
    rows = {row["path"]: row for row in proxy.ledger_rows() if "lure-" in row["path"]}

    assert [first.status, served.status] + [reply.status for reply in after] == [503, 200, 503, 503]
    assert served.body == BODY
    assert first.body == b"false_recovery: injected 503\n"
    assert [rows[_catalog(f"lure-{n}")]["status"] for n in (1, 2, 3, 4)] == [
        "503",
        "200",
        "503",
        "503",
    ]
    assert int(rows[_catalog("lure-2")]["bytes_written"]) == SIZE


def test_false_recovery_measures_each_region_own_quiet_spell(proxy: Proxy) -> None:
    proxy.put_profile({**only("DE", "false_recovery", quiet_ms=1000), **only("FR", "flap")})
    time.sleep(1.1)

    for n in range(3):
        raw_request(proxy.url, _catalog(f"lure-fr-{n}"), region="FR", framed=True)
    de = raw_request(proxy.url, _catalog("lure-de"), region="DE", framed=True)

    assert de.status == 200


def test_false_recovery_quiet_spell_restarts_at_reset(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "false_recovery", quiet_ms=1000))
    time.sleep(1.1)

    status, _ = http_json(f"{proxy.url}/__faults/reset", "POST")
    reply = raw_request(proxy.url, _catalog("lure-reset"), region="DE", framed=True)

    assert status == 200
    assert reply.status == 503


def test_false_recovery_counts_the_quiet_spell_from_the_previous_answer(proxy: Proxy) -> None:
    # The served request spends longer upstream than quiet_ms; the region was not quiet
    # while it waited, so the request right after its answer fails.
    proxy.put_profile(only("DE", "false_recovery", quiet_ms=600))
    time.sleep(0.7)

    slow = raw_request(proxy.url, _catalog("lure-slow", "&delay_ms=900"), region="DE", framed=True)
    right_after = raw_request(proxy.url, _catalog("lure-next"), region="DE", framed=True)

    assert (slow.status, right_after.status) == (200, 503)


def test_reset_records_the_profile_again_where_quiet_spells_restart(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "false_recovery", quiet_ms=1000))
    before = proxy.profile_rows()

    http_json(f"{proxy.url}/__faults/reset", "POST")
    after = proxy.profile_rows()

    assert after[: len(before)] == before
    added = [
        (row["method"], row["path"], row["region"], json.loads(row["params"])["types"])
        for row in after[len(before) :]
    ]
    assert added == [("POST", "/__faults/reset", "DE", ["false_recovery"])]


def test_false_recovery_status_sets_the_injected_error(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "false_recovery", status=500))

    reply = raw_request(proxy.url, _catalog("lure-500"), region="DE", framed=True)

    assert reply.status == 500
    assert reply.content_length == len(reply.body)


def test_flap_status_sets_the_injected_error(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "flap", status=500, good_count=0))

    replies = [
        raw_request(proxy.url, _catalog(f"flap-500-{n}"), region="DE", framed=True)
        for n in range(2)
    ]

    assert [reply.status for reply in replies] == [500, 500]
    assert replies[0].content_length == len(replies[0].body)


def test_clock_skew_moves_date_and_last_modified_by_six_hours(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "clock_skew"))

    reply = raw_request(proxy.url, _catalog("skew"), region="DE", framed=True)
    date_offset_s = parsedate_to_datetime(reply.headers["date"]).timestamp() - time.time()

    assert reply.body == BODY
    assert reply.headers["last-modified"] == "Wed, 01 Jan 2025 06:00:00 GMT"
    assert 6 * 3600 - 60 < date_offset_s < 6 * 3600 + 60


def test_clock_skew_negative_offset_moves_clocks_back(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "clock_skew", offset_s=-3600))

    reply = raw_request(proxy.url, _catalog("skew-back"), region="DE", framed=True)
    date_offset_s = parsedate_to_datetime(reply.headers["date"]).timestamp() - time.time()

    assert reply.headers["last-modified"] == "Tue, 31 Dec 2024 23:00:00 GMT"
    assert -3600 - 60 < date_offset_s < -3600 + 60


def test_clock_skew_headers_param_picks_the_headers_moved(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "clock_skew", offset_s=-86400, headers=["expires", "Date"]))

    reply = raw_request(proxy.url, _catalog("skew-pick"), region="DE", framed=True)
    date_offset_s = parsedate_to_datetime(reply.headers["date"]).timestamp() - time.time()

    assert reply.headers["expires"] == "Tue, 31 Dec 2024 01:00:00 GMT"
    assert reply.headers["last-modified"] == LAST_MODIFIED
    assert -86400 - 60 < date_offset_s < -86400 + 60


def test_clock_skew_by_default_leaves_expires_alone(proxy: Proxy) -> None:
    proxy.put_profile(only("DE", "clock_skew", offset_s=60))

    reply = raw_request(proxy.url, _catalog("skew-default"), region="DE", framed=True)

    assert reply.headers["expires"] == EXPIRES
    assert reply.headers["last-modified"] == "Wed, 01 Jan 2025 00:01:00 GMT"


def test_dribble_then_reset_sends_half_in_paced_chunks_then_rst(proxy: Proxy) -> None:
    proxy.put_profile(
        only("DE", "dribble_then_reset", keep_fraction=0.5, chunk_bytes=1000, pause_ms=20)
    )

    reply = raw_request(proxy.url, _catalog("dribble"), region="DE")

    assert reply.content_length == SIZE
    assert reply.body == BODY[: SIZE // 2]
    assert reply.end == "rst"
    assert reply.elapsed_s >= 6 * 0.02


def test_dribble_then_reset_chunk_bytes_and_pause_ms_shape_the_bursts(proxy: Proxy) -> None:
    proxy.put_profile(
        only("DE", "dribble_then_reset", keep_fraction=0.5, chunk_bytes=2000, pause_ms=100)
    )

    arrivals = timed_request(proxy.url, _catalog("dribble-shape"), "DE", duration_s=3.0)
    bursts: list[list[float]] = []
    for at, size in arrivals.chunks:
        if bursts and at - bursts[-1][0] < 0.05:
            bursts[-1][1] += size
        else:
            bursts.append([at, size])
    gaps_ms = [(later[0] - earlier[0]) * 1000 for earlier, later in itertools.pairwise(bursts)]

    kept = SIZE // 2
    assert [int(size) for _, size in bursts] == [2000] * (kept // 2000) + [kept % 2000]
    assert 90 <= statistics.median(gaps_ms) <= 110
    assert arrivals.body == BODY[:kept]


def test_faulted_connections_log_no_tracebacks(proxy: Proxy) -> None:
    for kind, params in (
        ("truncate", {"end": "rst"}),
        ("dribble_then_reset", {"pause_ms": 1}),
        ("lie_length", {"delta_bytes": 64}),
        ("slowloris", {"interval_ms": 5}),
    ):
        proxy.put_profile(only("DE", kind, **params))
        raw_request(proxy.url, _catalog(f"quiet-{kind}"), region="DE", timeout_s=0.3)
        proxy.wait_for_row(f"quiet-{kind}")

    log = proxy.log_path.read_text()

    assert "kind=slowloris" in log
    assert "Traceback" not in log
    assert "Error handling request" not in log
