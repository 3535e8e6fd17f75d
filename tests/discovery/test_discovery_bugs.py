"""Each named bug switches one defence off: shown against the real proxy and upstream.

Every test runs the same lie twice, through the hardened ingest with the bug and
without it, on fresh SQLite caches prefilled with an older honest catalog: with the bug
the lie gets through (or costs what the defence was there to save), without it the
defence holds.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from discovery.ingest import BUGS, Outcome, UnknownBugError, parse_bugs
from discovery.ingest.streaming import BATCH_ROWS
from tests.conftest import Service, refusal_line, start_service
from tests.discovery.discovery_faulty import PREFILL_GENERATION, Faulty, Run, run_ingest
from tests.discovery.discovery_http import get, run_cli, wait_until

SIX_HOURS_S = 6 * 3600


def assert_untouched(run: Run, reason: str) -> None:
    assert run.outcome.outcome is Outcome.FAILED, run.outcome
    assert run.outcome.reason == reason, run.outcome
    assert run.last.cache == run.before
    assert run.last.meta is not None and run.last.meta.generation == PREFILL_GENERATION


# parse_bugs and --bugs


def test_parse_bugs_takes_names_all_or_nothing() -> None:
    assert parse_bugs("") == frozenset()
    assert parse_bugs(" stream_commit , retry_once,") == {"stream_commit", "retry_once"}
    assert parse_bugs("all") == frozenset(BUGS)
    assert parse_bugs("no_deadline,all") == frozenset(BUGS)


def test_parse_bugs_names_an_unknown_bug_and_the_known_ones() -> None:
    with pytest.raises(UnknownBugError) as caught:
        parse_bugs("stream_commit,retry_twice")

    message = str(caught.value)
    assert "'retry_twice'" in message
    assert all(name in message for name in BUGS)
    assert "\n" not in message


def test_every_bug_has_a_one_line_description() -> None:
    assert len(BUGS) == 8
    for name, text in BUGS.items():
        assert name.isidentifier() and text and "\n" not in text


def test_serve_refuses_an_unknown_bug_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    line = refusal_line(
        run_cli("serve", "--upstream", "http://127.0.0.1:9", "--db", str(db), "--bugs", "x,all2")
    )

    assert "--bugs" in line and "'x'" in line and "stream_commit" in line
    assert not db.exists()


# stream_commit


@pytest.mark.parametrize(
    ("kind", "params", "reason"),
    [
        ("truncate", {"keep_fraction": 0.5, "end": "fin"}, "incomplete_body"),
        ("dribble_then_reset", {"keep_fraction": 0.6, "pause_ms": 20}, "incomplete_body"),
    ],
    ids=["truncate", "dribble_then_reset"],
)
def test_stream_commit_leaves_the_rows_of_a_cut_stream(
    faulty: Faulty, tmp_path: Path, kind: str, params: dict[str, Any], reason: str
) -> None:
    faulty.lie(kind, **params)

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"stream_commit"})
    hardened = run_ingest(tmp_path, faulty.proxy.url)

    assert buggy.outcome.outcome is Outcome.FAILED
    # The region was cleared, then batches committed until the cut; aiohttp drops what
    # it buffered when the cut arrives in the same read, so the truncate may leave none.
    rows = buggy.last.cache["DE"][0]
    assert rows < 40 and rows % BATCH_ROWS == 0
    if kind == "dribble_then_reset":
        assert rows >= BATCH_ROWS
    assert buggy.last.meta is not None and buggy.last.meta.item_count != rows
    assert buggy.last.cache["JP"] == buggy.before["JP"]
    assert_untouched(hardened, reason)


def test_stream_commit_keeps_the_per_line_checks(faulty: Faulty, tmp_path: Path) -> None:
    """The rows before the bad line are in; the bad line itself is not."""
    faulty.lie("valid_garbage", mode="duplicated_items")

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"stream_commit"})

    assert buggy.outcome.reason == "duplicate_id"
    assert 0 < buggy.last.cache["DE"][0] < buggy.before["DE"][0]


# no_length_check


def test_no_length_check_stores_a_stream_cut_at_a_line_end(faulty: Faulty, tmp_path: Path) -> None:
    faulty.lie("unframed_truncate", align="line", keep_fraction=0.9)

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"no_length_check"})
    hardened = run_ingest(tmp_path, faulty.proxy.url)

    assert buggy.outcome.outcome is Outcome.FETCHED, buggy.outcome
    assert buggy.outcome.generation is not None
    truth_rows, truth_digest = faulty.truth("DE", buggy.outcome.generation)
    assert 50 <= buggy.last.cache["DE"][0] < truth_rows
    assert buggy.last.cache["DE"][1] != truth_digest
    assert_untouched(hardened, "count")


def test_no_length_check_stores_what_a_gzip_cut_before_its_trailer_held(
    faulty: Faulty, tmp_path: Path
) -> None:
    # The whole deflate stream but its 8-byte trailer: every item decodes.
    faulty.lie("encoding_truncate", encoding="gzip", keep_fraction=0.999)

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"no_length_check"})
    hardened = run_ingest(tmp_path, faulty.proxy.url)

    assert buggy.outcome.outcome is Outcome.FETCHED, buggy.outcome
    assert_untouched(hardened, "encoding")


# no_min_items


@pytest.mark.parametrize(
    ("params", "limits", "reason"),
    [
        ({"mode": "empty"}, {}, "too_few_items"),
        ({"mode": "shrink", "keep_fraction": 0.4}, {"min_items": 10}, "shrink"),
    ],
    ids=["empty", "shrink"],
)
def test_no_min_items_lets_an_empty_or_shrunken_catalog_replace_a_full_one(
    faulty: Faulty, tmp_path: Path, params: dict[str, Any], limits: dict[str, Any], reason: str
) -> None:
    faulty.lie("valid_garbage", **params)

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"no_min_items"}, **limits)
    hardened = run_ingest(tmp_path, faulty.proxy.url, **limits)

    assert buggy.outcome.outcome is Outcome.FETCHED, buggy.outcome
    assert buggy.last.cache["DE"][0] < buggy.before["DE"][0] / 2
    assert_untouched(hardened, reason)


# retry_once


def test_retry_once_hides_a_flapping_upstream(faulty: Faulty, tmp_path: Path) -> None:
    faulty.lie("flap", bad_count=1, good_count=1)
    told = len(faulty.rows_of("flap"))

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"retry_once"})
    asked_buggy = len(faulty.rows_of("flap")) - told
    faulty.lie("flap", bad_count=1, good_count=1)  # a fresh pattern: 503 first again
    hardened = run_ingest(tmp_path, faulty.proxy.url)
    asked_hardened = len(faulty.rows_of("flap")) - told - asked_buggy

    assert buggy.outcome.outcome is Outcome.FETCHED, buggy.outcome
    assert buggy.last.breaker.consecutive_failures == 0
    assert asked_buggy == 2
    assert_untouched(hardened, "status")
    assert hardened.last.breaker.consecutive_failures == 1
    assert asked_hardened == 1


def test_retry_once_ignores_retry_after(faulty: Faulty, tmp_path: Path) -> None:
    faulty.lie("retry_after_lie", status=503, mode="huge")
    told = len(faulty.rows_of("retry_after_lie"))

    buggy = run_ingest(tmp_path, faulty.proxy.url, refreshes=2, bugs={"retry_once"})
    asked_buggy = len(faulty.rows_of("retry_after_lie")) - told
    hardened = run_ingest(tmp_path, faulty.proxy.url, refreshes=2)
    asked_hardened = len(faulty.rows_of("retry_after_lie")) - told - asked_buggy

    assert buggy.reasons == ["status", "status"]
    assert buggy.steps[0].breaker.state == "closed"
    assert asked_buggy == 4
    assert hardened.reasons == ["status", "breaker_open"]
    assert hardened.steps[0].breaker.state == "open"
    assert asked_hardened == 1


# trust_clocks


def test_trust_clocks_freezes_the_region_on_a_future_last_modified(
    ticking: Faulty, tmp_path: Path
) -> None:
    ticking.lie("clock_skew", offset_s=SIX_HOURS_S)

    buggy = run_ingest(tmp_path, ticking.proxy.url, refreshes=3, pause_s=1.2, bugs={"trust_clocks"})
    hardened = run_ingest(tmp_path, ticking.proxy.url, refreshes=3, pause_s=1.2)

    first, *later = buggy.steps
    assert first.outcome.outcome is Outcome.FETCHED
    assert [step.outcome.outcome for step in later] == [Outcome.NOT_MODIFIED] * 2
    assert later[-1].meta is not None and first.outcome.generation is not None
    assert later[-1].meta.generation == first.outcome.generation
    assert later[-1].meta.checked_at > time.time() + SIX_HOURS_S - 60
    assert [step.outcome.outcome for step in hardened.steps] == [Outcome.FETCHED] * 3
    generations = [step.outcome.generation or 0 for step in hardened.steps]
    assert generations == sorted(set(generations))
    assert hardened.last.meta is not None and hardened.last.meta.checked_at <= time.time()


def test_trust_clocks_freeze_outlives_the_fault(ticking: Faulty, tmp_path: Path) -> None:
    ticking.lie("clock_skew", mode="modified_after_date", offset_s=SIX_HOURS_S)

    def faults_off(number: int) -> None:
        ticking.honest()

    buggy = run_ingest(
        tmp_path,
        ticking.proxy.url,
        refreshes=2,
        pause_s=1.2,
        between=faults_off,
        bugs={"trust_clocks"},
    )
    ticking.lie("clock_skew", mode="modified_after_date", offset_s=SIX_HOURS_S)
    hardened = run_ingest(tmp_path, ticking.proxy.url, refreshes=2, pause_s=1.2, between=faults_off)

    assert [s.outcome.outcome for s in buggy.steps] == [Outcome.FETCHED, Outcome.NOT_MODIFIED]
    assert [s.outcome.outcome for s in hardened.steps] == [Outcome.FETCHED] * 2


# no_deadline


def test_no_deadline_waits_as_long_as_a_trickle_lasts(faulty: Faulty, tmp_path: Path) -> None:
    faulty.lie("slowloris", interval_ms=50, max_duration_ms=3500)
    limits = {"deadline_s": 1.0, "min_bytes_per_s": 1.0}

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"no_deadline"}, **limits)
    hardened = run_ingest(tmp_path, faulty.proxy.url, **limits)

    assert buggy.outcome.outcome is Outcome.FAILED
    assert buggy.last.took_s > 3.0
    assert buggy.last.cache == buggy.before
    assert_untouched(hardened, "deadline")
    assert hardened.last.took_s < 1.8


def test_no_deadline_has_no_throughput_floor(faulty: Faulty, tmp_path: Path) -> None:
    # 20 bytes/s, but each byte well within the per-read timeout.
    faulty.lie("slowloris", interval_ms=50, max_duration_ms=2500)
    limits = {"deadline_s": 1.0, "min_bytes_per_s": 1000.0}

    buggy = run_ingest(tmp_path, faulty.proxy.url, bugs={"no_deadline"}, **limits)
    hardened = run_ingest(tmp_path, faulty.proxy.url, **limits)

    assert buggy.last.took_s > 2.0
    assert_untouched(hardened, "throughput")
    assert hardened.last.took_s < 1.0


# single_success_breaker


def test_single_success_breaker_closes_on_the_first_good_answer(
    faulty: Faulty, tmp_path: Path
) -> None:
    limits = {"trip_after": 3, "cooldown_s": 0.5}
    faulty.lie("flap", bad_count=3, good_count=1)
    buggy = run_ingest(
        tmp_path, faulty.proxy.url, 5, bugs={"single_success_breaker"}, pause_s=0.6, **limits
    )
    faulty.lie("flap", bad_count=3, good_count=1)
    hardened = run_ingest(tmp_path, faulty.proxy.url, 5, pause_s=0.6, **limits)

    buggy_states = [step.breaker.state for step in buggy.steps]
    hardened_states = [step.breaker.state for step in hardened.steps]
    assert buggy.steps[3].outcome.outcome is Outcome.FETCHED
    assert buggy_states == ["closed", "closed", "open", "closed", "closed"]
    assert hardened.steps[3].outcome.outcome is Outcome.FETCHED
    assert hardened_states == ["closed", "closed", "open", "half_open", "open"]


# serial_loop


def clean_ages(url: str, regions: tuple[str, ...]) -> list[float]:
    """Each region's snapshot age in seconds (infinite before its first snapshot)."""
    snapshot = get(f"{url}/snapshot").json()
    checked = [snapshot["regions"][region]["checked_at"] for region in regions]
    return [float("inf") if at is None else snapshot["taken_at"] - at for at in checked]


def worst_clean_age(services: list[Service], tmp_path: Path, faulty: Faulty, *bugs: str) -> float:
    """Serve every region through the proxy for 3 s with DE trickled; the oldest clean
    region's age seen in that time."""
    clean = ("US", "GB", "FR", "JP", "KR", "BR", "AU")
    db = tmp_path / f"cache-{len(services)}.db"
    args = ["discovery", "serve", "--upstream", faulty.proxy.url, "--db", str(db)]
    args += ["--interval-s", "0.2", "--deadline-s", "1.5", "--min-bytes-per-s", "1"]
    args += ["--cooldown-s", "0.2", "--trip-after", "100"]
    service = start_service([*args, *(("--bugs", ",".join(bugs)) if bugs else ())], tmp_path)
    services.append(service)
    wait_until(lambda: all(age < 30 for age in clean_ages(service.url, clean)), 15, "warm")
    worst = 0.0
    ends = time.monotonic() + 3.0
    while time.monotonic() < ends:
        worst = max(worst, *clean_ages(service.url, clean))
        time.sleep(0.05)
    service.stop()
    return worst


def test_serial_loop_makes_every_region_wait_for_a_slow_one(
    services: list[Service], faulty: Faulty, tmp_path: Path
) -> None:
    faulty.lie("slowloris", interval_ms=100, max_duration_ms=10_000)

    buggy = worst_clean_age(services, tmp_path, faulty, "serial_loop")
    hardened = worst_clean_age(services, tmp_path, faulty)

    assert buggy > 1.4
    assert hardened < 1.0
