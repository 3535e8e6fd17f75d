"""Fault decisions depend on the seed, the profile and the region's own requests, nothing else."""

from __future__ import annotations

from pathlib import Path

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


def test_same_seed_gives_same_faults_whatever_other_regions_do(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    for _ in range(2):
        fresh_proxies.append(start_proxy(upstream.url, tmp_path, "--seed", "7"))

    first = _de_sequence(fresh_proxies[0], fr_every=1)
    second = _de_sequence(fresh_proxies[1], fr_every=3)

    assert first == second
    assert {"valid_garbage", "clock_skew", "-"} <= set(first)


def test_another_seed_gives_other_faults(
    upstream: Service, fresh_proxies: list[Proxy], tmp_path: Path
) -> None:
    for seed in ("7", "8"):
        fresh_proxies.append(start_proxy(upstream.url, tmp_path, "--seed", seed))

    assert _de_sequence(fresh_proxies[0], 0) != _de_sequence(fresh_proxies[1], 0)


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
