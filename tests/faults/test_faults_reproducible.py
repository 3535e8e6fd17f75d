"""Fault decisions depend on the seed, the profile and the region's own requests, nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from faults.dice import Dice
from faults.profile import parse_profile
from tests.conftest import Service
from tests.faults.rawhttp import raw_request
from tests.faults.support import Proxy, start_proxy

HALF = {"probability": 0.5, "types": ["valid_garbage", "clock_skew"]}
PROFILE = {"DE": HALF, "FR": HALF}
REQUESTS = 16


def _observed(reply_body: bytes, last_modified: str) -> str:
    if b'"items":[]' in reply_body:
        return "valid_garbage"
    if last_modified != "Wed, 01 Jan 2025 00:00:00 GMT":
        return "clock_skew"
    return "-"


def _de_sequence(proxy: Proxy, fr_every: int) -> list[str]:
    """What each DE request got, with FR requests interleaved every `fr_every` DE requests."""
    proxy.put_profile(PROFILE)
    seen = []
    for number in range(REQUESTS):
        if fr_every and number % fr_every == 0:
            raw_request(proxy.url, "/catalog", region="FR", framed=True)
        reply = raw_request(proxy.url, "/catalog", region="DE", framed=True)
        seen.append(_observed(reply.body, reply.headers["last-modified"]))
    return seen


@pytest.fixture(scope="module")
def seeded(upstream: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Proxy]]:
    """Three proxies: two with seed 7, one with seed 8."""
    folder = tmp_path_factory.mktemp("seeded")
    started = [start_proxy(upstream.url, folder, "--seed", seed) for seed in ("7", "7", "8")]
    yield started
    for proxy in started:
        proxy.stop()


def test_same_seed_gives_same_faults_whatever_other_regions_do(seeded: list[Proxy]) -> None:
    first = _de_sequence(seeded[0], fr_every=1)
    second = _de_sequence(seeded[1], fr_every=3)

    assert first == second
    assert {"valid_garbage", "clock_skew", "-"} <= set(first)


def test_another_seed_gives_other_faults(seeded: list[Proxy]) -> None:
    assert _de_sequence(seeded[0], 0) != _de_sequence(seeded[2], 0)


MIXED = {
    "probability": 0.6,
    "types": [
        "truncate",
        "lie_length",
        "valid_garbage",
        "flap",
        "clock_skew",
        "dribble_then_reset",
    ],
    "params": {
        "truncate": {"keep_bytes": 300},
        "lie_length": {"delta_bytes": -10},
        "valid_garbage": {"mode": "duplicated_items"},
        "dribble_then_reset": {"chunk_bytes": 100_000, "pause_ms": 0},
    },
}
TIMES = ("time", "connected_ms")


def _ledger_of_a_run(proxy: Proxy, marker: str) -> list[dict[str, str]]:
    """Replay one fixed request sequence; the ledger rows it caused, without their times."""
    proxy.put_profile({"DE": MIXED, "FR": MIXED})
    for number in range(24):
        region = "FR" if number % 4 == 3 else "DE"
        target = f"/catalog?t={marker}-{number}"
        raw_request(proxy.url, target, region=region, headers={"Connection": "close"})
    time.sleep(0.1)
    rows = [row for row in proxy.ledger_rows() if f"t={marker}-" in row["path"]]
    return [{key: value for key, value in row.items() if key not in TIMES} for row in rows]


def test_same_seed_and_requests_give_identical_ledgers(seeded: list[Proxy]) -> None:
    first = _ledger_of_a_run(seeded[0], "same")
    second = _ledger_of_a_run(seeded[1], "same")

    assert first == second
    assert len({row["kind"] for row in first}) >= 4
    assert {row["region"] for row in first} == {"DE", "FR"}


def test_another_seed_gives_another_ledger(seeded: list[Proxy]) -> None:
    assert _ledger_of_a_run(seeded[0], "other") != _ledger_of_a_run(seeded[2], "other")


def test_installing_a_profile_restarts_the_draws(proxy: Proxy) -> None:
    assert _de_sequence(proxy, 0) == _de_sequence(proxy, 0)


def test_regions_draw_from_independent_streams() -> None:
    profile = parse_profile('{"DE": {"probability": 0.5, "types": ["flap", "truncate"]}}', "p")
    alone = Dice(profile, seed=3)
    busy = Dice(profile, seed=3)

    draws_alone = [alone.draw("DE") for _ in range(50)]
    draws_busy = []
    for _ in range(50):
        busy.draw("FR")
        busy.draw(None)
        draws_busy.append(busy.draw("DE"))

    assert draws_alone == draws_busy
    assert None in draws_alone and any(draw is not None for draw in draws_alone)


def test_probability_zero_never_faults_and_one_always_does() -> None:
    never = Dice(parse_profile('{"DE": {"probability": 0, "types": ["flap"]}}', "p"), seed=1)
    always = Dice(parse_profile('{"DE": {"probability": 1, "types": ["flap"]}}', "p"), seed=1)

    assert all(never.draw("DE") is None for _ in range(200))
    assert all(always.draw("DE") is not None for _ in range(200))
