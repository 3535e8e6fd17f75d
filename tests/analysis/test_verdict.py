"""The verdict a phased storm earns: each check driven to PASS, FAIL and INCONCLUSIVE."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common import REGIONS
from tests.analysis.runs import (
    LEDGER_HEADER,
    STARTED_AT,
    CacheEntry,
    RegionLoad,
    RunSpec,
    check,
    healed,
    judged,
    write_csv,
)

MakeRun = Callable[..., Path]


def fault_load(spec: RunSpec, region: str, **load: object) -> RunSpec:
    """The spec with `region`'s fault phase replaced by RegionLoad(**load)."""
    spec.phase_loads[(region, "fault")] = RegionLoad(**load)  # type: ignore[arg-type]
    return spec


def test_healthy_storm_passes_with_every_property_checked(make_run: MakeRun) -> None:
    code, verdict = judged(make_run())

    assert code == 0
    assert verdict["verdict"] == "PASS"
    assert verdict["phased"] is True
    assert verdict["reasons"] == []
    assert verdict["properties"] == {
        "containment": "PASS",
        "honesty": "PASS",
        "bounded_latency": "PASS",
        "idempotent_recovery": "PASS",
        "backoff": "PASS",
        "evidence": "PASS",
    }
    assert verdict["recovery"]["recovered_after_s"] == 8.0
    assert verdict["regions"]["DE"]["role"] == "target"


# -- requests (evidence) ---------------------------------------------------------------


def test_too_few_baseline_requests_in_a_clean_region_is_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("BR", "baseline")] = RegionLoad(requests=19)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "BR", "requests")["status"] == "inconclusive"
    assert verdict["reasons"] == [
        "BR evidence: baseline 19, fault 1000 requests: fewer than 20, too few to judge the region"
    ]


# -- success rate ----------------------------------------------------------------------


def test_clean_success_rate_clearly_below_bound_fails(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "FR", requests=1000, unavailable=50)

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["regions"]["FR"]["verdict"] == "FAIL"
    assert verdict["reasons"] == [
        "FR containment: fault: 95.00% of 1000 (50 failed), 95 % upper bound 96.19% < 99.50%; "
        "baseline 100.00% of 1000 (0 failed)"
    ]


def test_clean_success_rate_whose_interval_holds_the_bound_is_inconclusive(
    make_run: MakeRun,
) -> None:
    spec = fault_load(RunSpec(), "GB", requests=1000, unavailable=3)

    code, verdict = judged(make_run(spec))

    success = check(verdict, "GB", "success_rate")
    assert code == 3
    assert success["status"] == "inconclusive"
    assert success["passed"] is False
    assert (
        "too few to decide, need 1760 requests (760 more without a failure)" in (success["detail"])
    )


def test_flawless_but_short_fault_phase_is_never_a_pass(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "JP", requests=764)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "JP", "success_rate")["detail"].endswith(
        "need 765 requests (1 more without a failure); baseline 100.00% of 1000 (0 failed)"
    )


def test_flawless_fault_phase_of_765_requests_clears_995(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "JP", requests=765)

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert check(verdict, "JP", "success_rate")["status"] == "pass"


def test_failures_in_the_baseline_do_not_count_against_containment(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("US", "baseline")] = RegionLoad(unavailable=200)

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert "baseline 80.00% of 1000 (200 failed)" in check(verdict, "US", "success_rate")["detail"]


def test_target_may_fail_honestly_without_failing_the_run(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "DE", requests=1000, unavailable=500)

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert verdict["regions"]["DE"]["verdict"] == "PASS"


# -- p95 -------------------------------------------------------------------------------


def test_clean_p95_over_bound_in_search_rows_fails_containment(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "KR", p95_ms=40, search_p95_ms=1100)

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert "KR containment: fault: p95 1100 ms > 1000 ms" in verdict["reasons"]


def test_clean_region_without_fault_phase_requests_has_undecided_p95(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "KR", requests=0, staleness_p95_ms=None)

    code, verdict = judged(make_run(spec))

    assert code == 3
    p95 = check(verdict, "KR", "p95_ms")
    assert (p95["status"], p95["detail"]) == (
        "inconclusive",
        "fault: no p95, no request was answered",
    )


def test_target_p95_over_bound_in_any_phase_fails_bounded_latency(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("DE", "recovery")] = RegionLoad(p95_ms=2100)

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "DE bounded_latency: whole run (highest in recovery): p95 2100 ms > 2000 ms"
    ]


# -- p95 against the baseline ----------------------------------------------------------


def test_clean_p95_far_above_its_baseline_fails_even_under_the_bound(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "AU", p95_ms=400, search_p95_ms=30)

    code, verdict = judged(make_run(spec))

    assert code == 1
    ratio = check(verdict, "AU", "p95_ratio")
    assert (ratio["status"], ratio["value"]) == ("fail", 8.0)
    assert ratio["detail"] == "fault p95 400 ms / baseline 40 ms (each at least 50 ms) = 8.00 > 3"


def test_small_p95s_are_compared_above_the_floor_only(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("AU", "baseline")] = RegionLoad(p95_ms=3, search_p95_ms=2)
    fault_load(spec, "AU", p95_ms=140, search_p95_ms=6)

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert check(verdict, "AU", "p95_ratio")["value"] == 2.8


def test_ratio_without_a_baseline_p95_is_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("AU", "baseline")] = RegionLoad(requests=0, staleness_p95_ms=None)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "AU", "p95_ratio")["status"] == "inconclusive"


# -- staleness -------------------------------------------------------------------------


def test_clean_region_served_stale_during_the_fault_fails_containment(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "JP", staleness_p95_ms=45000)

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == ["JP containment: fault: staleness p95 45 s > 30 s"]


def test_fault_phase_without_staleness_rows_is_inconclusive(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "JP", staleness_p95_ms=None)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "JP", "staleness_p95_s")["status"] == "inconclusive"


# -- honesty ---------------------------------------------------------------------------


def test_dishonest_response_in_the_baseline_fails_honesty(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("DE", "baseline")] = RegionLoad(dishonest={"count 12 < 50": 3})

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == ["DE honesty: 3 dishonest responses (baseline 3): count 12 < 50"]


def test_dishonest_messages_are_summed_most_frequent_first(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(), "JP", dishonest={"garbage item": 1, "count 0 < 50": 4})

    _, verdict = judged(make_run(spec))

    dishonest = check(verdict, "JP", "dishonest_responses")
    assert dishonest["value"] == 5
    assert dishonest["detail"] == (
        "5 dishonest responses (fault 5): count 0 < 50; and 1 other messages"
    )


def test_dishonest_responses_are_counted_per_phase_in_the_order_they_ran(
    make_run: MakeRun,
) -> None:
    spec = RunSpec()
    for phase, count in (("recovery", 2), ("fault", 1), ("baseline", 1)):
        spec.phase_loads[("JP", phase)] = RegionLoad(dishonest={"garbage item": count})

    _, verdict = judged(make_run(spec))

    detail = check(verdict, "JP", "dishonest_responses")["detail"]
    assert detail.startswith("4 dishonest responses (baseline 1, fault 1, recovery 2)")


def test_region_that_never_answered_cannot_show_honesty(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["BR"] = RegionLoad(requests=0, staleness_p95_ms=None)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "BR", "dishonest_responses")["status"] == "inconclusive"


# -- cache -----------------------------------------------------------------------------


def test_clean_cache_differing_from_truth_after_the_window_fails(make_run: MakeRun) -> None:
    spec = RunSpec(caches={"fault_end": {"US": CacheEntry(rows=12, digest="a" * 64)}})

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "US containment: fault_end: cached 12 rows, not the truth of generation 4 (60 rows; "
        "digest aaaaaaaaaaaa != dddddddddddd); end: whole, generation 4 (60 rows)"
    ]


def test_region_lost_from_the_end_snapshot_fails(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(caches={"end": {"JP": None}})))

    assert code == 1
    assert check(verdict, "JP", "cache")["detail"].endswith("end: region absent, cache lost")


def test_partial_target_cache_fails_honesty(make_run: MakeRun) -> None:
    spec = RunSpec(caches={"end": {"DE": CacheEntry(rows=30, digest="b" * 64)}})

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert check(verdict, "DE", "cache")["property"] == "honesty"


def test_stale_but_complete_target_cache_passes(make_run: MakeRun) -> None:
    old = CacheEntry(rows=55, digest="c" * 64, generation=1, truth_rows=55, truth_digest="c" * 64)
    spec = RunSpec(caches={"fault_end": {"DE": old}, "end": {"DE": old}})

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert "fault_end: whole, generation 1 (55 rows)" in check(verdict, "DE", "cache")["detail"]


def test_clean_cache_without_truth_must_be_unchanged_through_the_window(
    make_run: MakeRun,
) -> None:
    unknown = {"truth_rows": None, "truth_digest": None}
    spec = RunSpec(
        caches={
            "fault_end": {"FR": CacheEntry(digest="e" * 64, **unknown)},  # type: ignore[arg-type]
            "end": {"FR": CacheEntry(**unknown)},  # type: ignore[arg-type]
        }
    )

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert check(verdict, "FR", "cache")["detail"] == (
        "fault_end: changed since fault_start (dddddddddddd -> eeeeeeeeeeee) and the truth is "
        "unknown; end: upstream truth unknown for generation 4"
    )


def test_clean_cache_without_truth_or_reference_is_inconclusive(make_run: MakeRun) -> None:
    unknown = CacheEntry(truth_rows=None, truth_digest=None)
    spec = RunSpec(
        caches={
            "start": {"FR": None},
            "fault_start": {"FR": None},
            "fault_end": {"FR": unknown},
            "end": {"FR": unknown},
        }
    )

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "FR", "cache")["status"] == "inconclusive"


def test_snapshots_without_end_labels_are_inconclusive(make_run: MakeRun) -> None:
    prefix = make_run()
    Path(f"{prefix}_snapshots.json").write_text('{"snapshots": []}')

    code, verdict = judged(prefix)

    assert code == 3
    assert check(verdict, "US", "cache")["detail"] == (
        "no fault_end or end snapshot: the storm took none"
    )


def test_missing_snapshots_skip_cache_and_recovery_visibly(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(snapshots=False)))

    assert code == 0
    for region, name in (("US", "cache"), ("DE", "cache"), ("DE", "recovery_s")):
        skipped = check(verdict, region, name)
        assert (skipped["status"], skipped["passed"]) == ("skipped", None)
        assert skipped["detail"] == "no snapshots: external stack"
    assert verdict["properties"]["idempotent_recovery"] == "SKIPPED"


# -- staleness -------------------------------------------------------------------------


def test_clean_region_aging_well_past_its_baseline_fails_containment(make_run: MakeRun) -> None:
    spec = RunSpec(phase_loads={("US", "fault"): RegionLoad(staleness_p95_ms=5000)})

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "US containment: fault: staleness p95 5 s <= 30 s, 2.50 > 1.5 times the baseline's 2 s "
        "(each at least 2 s)"
    ]


def test_clean_region_aging_a_little_passes(make_run: MakeRun) -> None:
    spec = RunSpec(phase_loads={("US", "fault"): RegionLoad(staleness_p95_ms=2900)})

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert check(verdict, "US", "staleness_p95_s")["status"] == "pass"


# -- backoff ---------------------------------------------------------------------------


def test_target_upstream_asked_as_often_as_the_clean_ones_passes_backoff(
    make_run: MakeRun,
) -> None:
    code, verdict = judged(make_run(RunSpec()))

    assert code == 0
    pressure = check(verdict, "DE", "upstream_pressure")
    assert (pressure["status"], pressure["value"], pressure["threshold"]) == ("pass", 1.0, 1.5)
    assert verdict["properties"]["backoff"] == "PASS"


def test_target_upstream_asked_twice_as_often_fails_backoff(make_run: MakeRun) -> None:
    counts = {"fault_start": dict.fromkeys(REGIONS, 10), "fault_end": dict.fromkeys(REGIONS, 25)}
    counts["fault_end"]["DE"] = 40
    counts["fault_end"]["US"] = 26

    code, verdict = judged(make_run(RunSpec(upstream_requests=counts)))

    assert code == 1
    assert verdict["reasons"] == [
        "DE backoff: fault window: target upstream asked 30 times, clean median 15: 2.00 > 1.5"
    ]
    assert verdict["properties"]["backoff"] == "FAIL"


def test_too_few_clean_upstream_requests_skip_backoff(make_run: MakeRun) -> None:
    counts = {"fault_start": dict.fromkeys(REGIONS, 10), "fault_end": dict.fromkeys(REGIONS, 12)}
    counts["fault_end"]["DE"] = 30

    code, verdict = judged(make_run(RunSpec(upstream_requests=counts)))

    assert code == 0
    pressure = check(verdict, "DE", "upstream_pressure")
    assert pressure["status"] == "skipped"
    assert pressure["detail"].startswith("clean upstreams asked 2 times (median)")


def test_snapshots_without_request_counts_skip_backoff(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(upstream_requests=None)))

    assert code == 0
    assert check(verdict, "DE", "upstream_pressure")["status"] == "skipped"
    assert verdict["properties"]["backoff"] == "SKIPPED"


def _lured(*statuses: int) -> list[tuple[Any, ...]]:
    """The target's false_recovery rows with these statuses, one second apart."""
    return [("DE", "false_recovery", 0.0, status) for status in statuses]


def test_a_client_that_reopens_at_the_first_failure_passes_false_recovery(
    make_run: MakeRun,
) -> None:
    spec = RunSpec(ledger=_lured(503, 503, 503, 200, 503, 200, 503, 200), profiles=[("DE", 1.0)])

    code, verdict = judged(make_run(spec))

    assert code == 0
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert (relapse["status"], relapse["value"], relapse["threshold"]) == ("pass", 1.0, 1.0)
    assert relapse["detail"] == (
        "failing requests in a row after each of 2 good answers: 1, 1; median 1 <= 1"
    )


def test_a_client_that_trusts_one_good_answer_fails_backoff(make_run: MakeRun) -> None:
    spec = RunSpec(
        ledger=_lured(503, 503, 503, 200, 503, 503, 503, 200, 503, 503), profiles=[("DE", 1.0)]
    )

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "DE backoff: failing requests in a row after each of 2 good answers: 3, 2; "
        "median 2.5 > 1: one good answer restored the client's trust"
    ]
    assert verdict["properties"]["backoff"] == "FAIL"


def test_a_status_past_599_relayed_from_the_upstream_counts_as_a_failure(
    make_run: MakeRun,
) -> None:
    # Some providers send 999; false_recovery relays a served request's status as is.
    spec = RunSpec(ledger=_lured(503, 200, 999, 503, 503, 200, 503), profiles=[("DE", 1.0)])

    code, verdict = judged(make_run(spec))

    assert code == 1
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert (relapse["status"], relapse["value"]) == ("fail", 3.0)


@pytest.mark.parametrize(
    ("statuses", "reinstalled_before", "detail"),
    [
        (
            (503, 503, 503, 200, 503),
            [],
            "the only good answer was followed by 1 failure before the fault window ended or "
            "the profile changed: too soon",
        ),
        (
            (503, 503, 200, 503, 503, 503, 200),
            [4],
            "each of 2 good answers was followed by at most 1 failure before the fault window",
        ),
    ],
    ids=["window_ends", "each_profile_cut_short"],
)
def test_counts_cut_short_after_one_good_answer_are_not_judged(
    make_run: MakeRun, statuses: tuple[int, ...], reinstalled_before: list[int], detail: str
) -> None:
    spec = RunSpec(
        ledger=_lured(*statuses), profiles=[("DE", 1.0)], reinstalled_before=reinstalled_before
    )

    code, verdict = judged(make_run(spec))

    assert code == 0
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert relapse["status"] == "skipped"
    assert relapse["detail"].startswith(detail)


def test_a_count_the_window_cut_short_fails_once_it_is_over_the_bound(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=_lured(503, 200, 503, 503), profiles=[("DE", 1.0)])

    code, verdict = judged(make_run(spec))

    assert code == 1
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert (relapse["status"], relapse["value"]) == ("fail", 2.0)
    assert relapse["detail"].startswith("failing requests in a row after the good answer: 2;")


def test_a_new_profile_starts_the_counts_afresh(make_run: MakeRun) -> None:
    # The reinstall restarts the quiet spells: the three failures after it are the client
    # tripping its breaker again, not more trust in the good answer before it.
    lured = _lured(503, 503, 503, 200, 503, 503, 503, 503, 200, 503, 200, 503)
    spec = RunSpec(ledger=lured, profiles=[("DE", 1.0)], reinstalled_before=[5])

    code, verdict = judged(make_run(spec))

    assert code == 0
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert (relapse["status"], relapse["value"]) == ("pass", 1.0)
    assert relapse["detail"].startswith("failing requests in a row after the good answer: 1;")


@pytest.mark.parametrize(
    ("kinds", "status"),
    [(["false_recovery", "false_recovery"], "fail"), (["false_recovery", "truncate"], "skipped")],
    ids=["weighted_by_repetition_is_alone", "beside_another_kind_is_not_judged"],
)
def test_false_recovery_is_judged_only_as_the_region_s_one_kind(
    make_run: MakeRun, kinds: list[str], status: str
) -> None:
    spec = RunSpec(
        ledger=_lured(503, 200, 503, 503, 503, 200, 503, 503, 503),
        profiles=[("DE", 1.0)],
        profile_kinds=kinds,
    )

    code, verdict = judged(make_run(spec))

    assert code == (1 if status == "fail" else 0)
    assert check(verdict, "DE", "false_recovery_failures")["status"] == status


def test_false_recovery_without_profile_rows_is_undecided(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(ledger=_lured(200, 503, 503, 503))))

    assert code == 3
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert relapse["status"] == "inconclusive"
    assert "no profile row for the region" in relapse["detail"]


def test_false_recovery_beside_a_row_its_profile_never_drew_is_undecided(
    make_run: MakeRun,
) -> None:
    rows = [*_lured(200, 503, 503, 503), ("DE", "truncate", 0.0, 200)]
    spec = RunSpec(ledger=rows, profiles=[("DE", 1.0)])

    code, verdict = judged(make_run(spec))

    assert code == 3
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert relapse["status"] == "inconclusive"
    assert "a truncate row for DE while its profile had false_recovery alone" in relapse["detail"]


def test_false_recovery_that_served_nothing_says_how_to_set_quiet_ms(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=_lured(503, 503, 503, 503), profiles=[("DE", 1.0)])

    code, verdict = judged(make_run(spec))

    assert code == 0
    relapse = check(verdict, "DE", "false_recovery_failures")
    assert relapse["status"] == "skipped"
    assert "never quiet for quiet_ms" in relapse["detail"]


def test_false_recovery_failures_bound_comes_from_the_thresholds(
    make_run: MakeRun, tmp_path: Path
) -> None:
    spec = RunSpec(ledger=_lured(200, 503, 503, 503, 200, 503, 503, 503), profiles=[("DE", 1.0)])
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text('{"target": {"false_recovery_failures": 3}}')

    code, verdict = judged(make_run(spec), thresholds_path=str(thresholds))

    assert code == 0
    assert check(verdict, "DE", "false_recovery_failures")["status"] == "pass"


# -- ledger ----------------------------------------------------------------------------


def test_fault_in_a_clean_region_fails_containment(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "truncate")] * 3 + [("GB", "lie_length")])

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "GB containment: 1 faults injected into a clean region (lie_length 1): harness leaked"
    ]


def test_ledger_rows_of_no_known_region_are_inconclusive_once_for_all(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "truncate")] * 3 + [("XX", "truncate")])

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert verdict["reasons"] == [
        "US GB FR JP KR BR AU containment: ledger rows name no known region ('XX' 1): "
        "a leak cannot be ruled out"
    ]


# -- ingest deadline -------------------------------------------------------------------


def test_slowloris_held_past_the_deadline_fails_bounded_latency(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "slowloris", 2900.0), ("DE", "slowloris", 7012.5)])

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "DE bounded_latency: longest ingest attempt under slowloris: 7012.5 ms > 5000 ms"
    ]


def test_slowloris_cut_by_the_deadline_passes(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "dribble_then_reset", 800.0), ("DE", "slowloris", 3012.0)])

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert check(verdict, "DE", "ingest_deadline_ms")["value"] == 3012.0


def test_slow_faults_without_hold_times_are_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "slowloris", "")] * 2)

    code, verdict = judged(make_run(spec))

    assert code == 3
    assert check(verdict, "DE", "ingest_deadline_ms")["detail"] == (
        "slowloris rows carry no connected_ms: no hold time to judge"
    )


# -- recovery --------------------------------------------------------------------------


def test_target_healed_too_late_fails_idempotent_recovery(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(recovery=healed(41.0))))

    assert code == 1
    assert verdict["reasons"] == [
        "DE idempotent_recovery: healed 41.0 s after the faults stopped > 30 s"
    ]
    assert verdict["recovery"]["status"] == "fail"


def test_target_never_healed_fails_naming_how_long_it_was_watched(make_run: MakeRun) -> None:
    never = {**healed(), "recovered_at": None, "recovered_after_s": None, "watched_s": 35.0}

    code, verdict = judged(make_run(RunSpec(recovery=never)))

    assert code == 1
    assert verdict["reasons"] == [
        "DE idempotent_recovery: not healed in the 35.0 s watched after the faults stopped"
    ]


def test_recovery_watched_shorter_than_its_bound_is_inconclusive(make_run: MakeRun) -> None:
    short = {**healed(), "recovered_at": None, "recovered_after_s": None, "watched_s": 12.0}

    code, verdict = judged(make_run(RunSpec(recovery=short)))

    assert code == 3
    assert check(verdict, "DE", "recovery_s")["detail"].startswith(
        "not healed yet, watched only 12.0 s < 30 s"
    )


# -- faults on the target (evidence) ---------------------------------------------------


def test_no_fault_on_target_is_inconclusive(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(ledger=[])))

    assert code == 3
    assert verdict["reasons"] == ["DE evidence: 0 faults injected < 1: the run proves nothing"]


def test_missing_ledger_is_inconclusive_and_skips_leak_checks(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(ledger=None)))

    assert code == 3
    assert check(verdict, "US", "ledger_rows")["status"] == "skipped"
    assert check(verdict, "DE", "faults_injected")["status"] == "inconclusive"


def test_fail_beats_inconclusive(make_run: MakeRun) -> None:
    spec = fault_load(RunSpec(ledger=[]), "US", unavailable=100)

    code, verdict = judged(make_run(spec))

    assert code == 1
    assert verdict["reasons"][0].startswith("US containment")
    assert verdict["reasons"][1].startswith("DE evidence")


# -- target ----------------------------------------------------------------------------


def test_target_comes_from_the_run_file_without_option(make_run: MakeRun) -> None:
    spec = RunSpec(target="JP", ledger=[("JP", "slowloris", 900.0)], recovery=None)

    _, verdict = judged(make_run(spec))

    assert verdict["target"] == "JP"
    assert verdict["regions"]["JP"]["role"] == "target"


def test_target_option_overrides_the_run_file(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(), target="us")

    assert verdict["target"] == "US"
    assert code == 1  # DE's ledger rows now count as faults in a clean region
    assert any(
        reason.startswith("DE containment: 5 faults injected") for reason in verdict["reasons"]
    )
    assert check(verdict, "US", "recovery_s")["detail"] == (
        "the recovery record watched DE, not US"
    )


# -- ledger rows and the fault window ---------------------------------------------------


def _ledger_at(prefix: Path, rows: list[tuple[float, str]]) -> None:
    """Replace the run's ledger with truncate rows at STARTED_AT + offset seconds."""
    wire = ["GET", "/catalog", 200, 9000, 4500, "fin", 3.5, "{}", "closed"]
    cells = [[f"{STARTED_AT + offset:.6f}", region, "truncate", *wire] for offset, region in rows]
    write_csv(Path(f"{prefix}_ledger.csv"), LEDGER_HEADER, cells)


def test_target_faults_outside_the_fault_window_do_not_count(make_run: MakeRun) -> None:
    prefix = make_run()
    # The fault window is STARTED_AT + 10 .. 40; these lies came after the run.
    _ledger_at(prefix, [(70.0 + n, "DE") for n in range(5)])

    code, verdict = judged(prefix)

    assert code == 3
    faults = check(verdict, "DE", "faults_injected")
    assert (faults["value"], faults["status"]) == (0, "inconclusive")
    assert "5 more outside the fault window, not counted" in faults["detail"]


def test_target_faults_on_the_window_edges_count(make_run: MakeRun) -> None:
    prefix = make_run()
    _ledger_at(prefix, [(10.0, "DE"), (25.0, "DE"), (40.0, "DE"), (9.0, "DE"), (41.0, "DE")])

    code, verdict = judged(prefix)

    assert code == 0
    assert check(verdict, "DE", "faults_injected")["value"] == 3


def test_clean_region_rows_outside_the_fault_window_still_leak(make_run: MakeRun) -> None:
    prefix = make_run()
    _ledger_at(prefix, [(20.0, "DE"), (21.0, "DE"), (5.0, "GB")])

    code, verdict = judged(prefix)

    assert code == 1
    assert check(verdict, "GB", "ledger_rows")["value"] == 1


def test_without_phases_in_the_run_file_every_ledger_row_counts(make_run: MakeRun) -> None:
    prefix = make_run(RunSpec(phased=False))
    _ledger_at(prefix, [(70.0, "DE"), (80.0, "DE")])

    _, verdict = judged(prefix)

    assert check(verdict, "DE", "faults_injected")["value"] == 2


def test_profile_change_rows_are_not_faults(make_run: MakeRun) -> None:
    prefix = make_run()
    _ledger_at(prefix, [(20.0, "DE")])
    control = ["PUT", "/__faults/profile", 200, "", 0, "complete", 0.0]
    spec = json.dumps({"probability": 0.5, "types": ["truncate"], "params": {}})
    with Path(f"{prefix}_ledger.csv").open("a", newline="") as file:
        csv.writer(file).writerows(
            [
                [f"{STARTED_AT + 10:.6f}", "JP", "profile", *control, spec, "reusable"],
                [f"{STARTED_AT + 40:.6f}", "", "profile", *control, "{}", "reusable"],
            ]
        )

    code, verdict = judged(prefix)

    assert code == 0
    assert check(verdict, "DE", "faults_injected")["value"] == 1
    assert check(verdict, "JP", "ledger_rows")["value"] == 0
