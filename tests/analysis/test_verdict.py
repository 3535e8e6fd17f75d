"""The verdict a run folder earns: each property, each region, each bound."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import analysis
from tests.analysis.runs import CacheEntry, RegionLoad, RunSpec

MakeRun = Callable[..., Path]


def judge(prefix: Path, **options: Any) -> tuple[int, dict[str, Any]]:
    """Run the analysis in-process; return its exit code and verdict.json."""
    code = analysis.run(str(prefix), **options)
    out = Path(options.get("out_dir") or prefix.parent)
    return code, json.loads((out / "verdict.json").read_text())


def check(verdict: dict[str, Any], region: str, name: str) -> dict[str, Any]:
    checks = verdict["regions"][region]["checks"]
    return next(c for c in checks if c["name"] == name)


def test_all_clean_regions_and_a_hit_target_pass(make_run: MakeRun) -> None:
    code, verdict = judge(make_run())

    assert code == 0
    assert verdict["verdict"] == "PASS"
    assert verdict["target"] == "DE"
    assert verdict["reasons"] == []
    assert {r["verdict"] for r in verdict["regions"].values()} == {"PASS"}
    assert verdict["regions"]["DE"]["role"] == "target"
    assert verdict["regions"]["US"]["role"] == "clean"


def test_clean_region_below_success_bound_fails_containment_naming_it(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["FR"] = RegionLoad(requests=200, unavailable=2)

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["verdict"] == "FAIL"
    assert verdict["regions"]["FR"]["verdict"] == "FAIL"
    assert verdict["reasons"] == ["FR containment: success rate 99.00% (2 of 200 failed) < 99.50%"]
    assert verdict["regions"]["US"]["verdict"] == "PASS"


def test_clean_region_exactly_at_success_bound_passes(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["FR"] = RegionLoad(requests=1000, unavailable=5)

    code, verdict = judge(make_run(spec))

    assert code == 0
    assert check(verdict, "FR", "success_rate")["value"] == 0.995


def test_target_may_fail_honestly_without_failing_the_run(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["DE"] = RegionLoad(requests=200, unavailable=120)

    code, verdict = judge(make_run(spec))

    assert code == 0
    assert verdict["table"][2]["success_rate"] == 0.4


def test_dishonest_response_on_target_fails_honesty(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["DE"] = RegionLoad(dishonest={"partial catalogue: 12 items < 50": 143})

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "DE honesty: 143 dishonest responses (partial catalogue: 12 items < 50)"
    ]
    assert check(verdict, "DE", "dishonest_responses")["passed"] is False


def test_dishonest_messages_are_summed_most_frequent_first(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["JP"] = RegionLoad(dishonest={"garbage item": 1, "count 0 < 50": 4})

    _, verdict = judge(make_run(spec))

    dishonest = check(verdict, "JP", "dishonest_responses")
    assert dishonest["value"] == 5
    assert dishonest["detail"] == "5 dishonest responses (count 0 < 50; and 1 other messages)"
    assert dishonest["property"] == "honesty"


def test_clean_p95_over_bound_in_search_rows_fails_containment(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["KR"] = RegionLoad(p95_ms=40, search_p95_ms=1100)

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == ["KR containment: p95 1100 ms > 1000 ms"]


def test_target_p95_over_bound_fails_bounded_latency(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["DE"] = RegionLoad(p95_ms=2100)

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == ["DE bounded_latency: p95 2100 ms > 2000 ms"]


def test_target_p95_between_clean_and_target_bounds_passes(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["DE"] = RegionLoad(p95_ms=1500)

    code, _ = judge(make_run(spec))

    assert code == 0


def test_clean_staleness_over_bound_fails_containment(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["AU"] = RegionLoad(staleness_p95_ms=45000)

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == ["AU containment: staleness p95 45 s > 30 s"]


def test_ledger_row_in_clean_region_fails_as_a_leak(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[("DE", "truncate"), ("GB", "lie_length")])

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["regions"]["GB"]["verdict"] == "FAIL"
    assert verdict["reasons"] == [
        "GB containment: 1 faults injected into a clean region (lie_length 1): harness leaked"
    ]


def test_no_fault_on_target_is_inconclusive(make_run: MakeRun) -> None:
    code, verdict = judge(make_run(RunSpec(ledger=[])))

    assert code == 3
    assert verdict["verdict"] == "INCONCLUSIVE"
    assert verdict["regions"]["DE"]["verdict"] == "INCONCLUSIVE"
    assert verdict["reasons"] == ["DE evidence: 0 faults injected < 1: the run proves nothing"]


def test_missing_ledger_is_inconclusive_and_skips_leak_checks(make_run: MakeRun) -> None:
    code, verdict = judge(make_run(RunSpec(ledger=None)))

    assert code == 3
    assert check(verdict, "US", "ledger_rows")["passed"] is None
    assert check(verdict, "DE", "faults_injected")["passed"] is False


def test_zero_min_target_faults_accepts_a_run_without_faults(
    make_run: MakeRun, tmp_path: Path
) -> None:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text('{"min_target_faults": 0}')

    code, _ = judge(make_run(RunSpec(ledger=[])), thresholds_path=str(thresholds))

    assert code == 0


def test_too_few_requests_in_a_region_is_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["BR"] = RegionLoad(requests=19)

    code, verdict = judge(make_run(spec))

    assert code == 3
    assert verdict["reasons"] == ["BR evidence: 19 requests < 20: too few to judge the region"]


def test_region_without_requests_is_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["BR"] = RegionLoad(requests=0, staleness_p95_ms=None)

    code, verdict = judge(make_run(spec))

    assert code == 3
    assert verdict["reasons"] == ["BR evidence: 0 requests < 20: too few to judge the region"]
    assert check(verdict, "BR", "success_rate")["passed"] is None
    assert check(verdict, "BR", "p95_ms")["passed"] is None


def test_fail_beats_inconclusive(make_run: MakeRun) -> None:
    spec = RunSpec(ledger=[])
    spec.loads["US"] = RegionLoad(unavailable=50)

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"][0].startswith("US containment")
    assert verdict["reasons"][1].startswith("DE evidence")


def test_clean_end_cache_digest_mismatch_fails_containment(make_run: MakeRun) -> None:
    spec = RunSpec(end_cache={"US": CacheEntry(rows=12, digest="a" * 64)})

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert verdict["reasons"] == [
        "US containment: end cache differs from the truth of generation 4: 12 rows, "
        "truth 60 rows (digest aaaaaaaaaaaa != dddddddddddd)"
    ]
    assert verdict["table"][0]["cache_end"] is False
    assert verdict["table"][0]["cache_start"] is True


def test_partial_target_cache_fails_honesty(make_run: MakeRun) -> None:
    spec = RunSpec(end_cache={"DE": CacheEntry(rows=30, digest="b" * 64)})

    code, verdict = judge(make_run(spec))

    assert code == 1
    assert check(verdict, "DE", "cache_end")["property"] == "honesty"
    assert verdict["reasons"][0].startswith("DE honesty: end cache differs")


def test_stale_but_complete_target_cache_passes(make_run: MakeRun) -> None:
    old = CacheEntry(rows=55, digest="c" * 64, generation=1, truth_rows=55, truth_digest="c" * 64)
    spec = RunSpec(end_cache={"DE": old})

    code, verdict = judge(make_run(spec))

    assert code == 0
    assert check(verdict, "DE", "cache_end")["detail"] == (
        "end cache matches the truth of generation 1 (55 rows)"
    )


def test_region_lost_from_end_snapshot_fails(make_run: MakeRun) -> None:
    code, verdict = judge(make_run(RunSpec(end_cache={"JP": None})))

    assert code == 1
    assert verdict["reasons"] == ["JP containment: absent from the end snapshot: cache lost"]


def test_unknown_truth_skips_the_cache_check(make_run: MakeRun) -> None:
    spec = RunSpec(end_cache={"FR": CacheEntry(truth_rows=None, truth_digest=None)})

    code, verdict = judge(make_run(spec))

    assert code == 0
    assert check(verdict, "FR", "cache_end")["passed"] is None


def test_missing_snapshots_skip_cache_checks_visibly(make_run: MakeRun) -> None:
    code, verdict = judge(make_run(RunSpec(snapshots=False)))

    assert code == 0
    for region in ("US", "DE"):
        cache = check(verdict, region, "cache_end")
        assert (cache["value"], cache["passed"]) == (None, None)
        assert cache["detail"] == "no snapshots: external stack"


def test_region_rows_are_combined_with_the_larger_p95(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.loads["US"] = RegionLoad(requests=301, unavailable=1, p95_ms=70, search_p95_ms=90)

    _, verdict = judge(make_run(spec))

    row = verdict["table"][0]
    assert (row["region"], row["requests"], row["failures"]) == ("US", 301, 1)
    assert row["p95_ms"] == 90
    assert row["staleness_p95_s"] == 2.0


def test_target_comes_from_the_run_file_without_option(make_run: MakeRun) -> None:
    _, verdict = judge(make_run(RunSpec(target="JP", ledger=[("JP", "slowloris")])))

    assert verdict["target"] == "JP"
    assert verdict["regions"]["JP"]["role"] == "target"


def test_target_option_overrides_the_run_file(make_run: MakeRun) -> None:
    code, verdict = judge(make_run(), target="us")

    assert verdict["target"] == "US"
    assert code == 1  # DE's ledger rows now count as faults in a clean region
    assert verdict["reasons"][0].startswith("DE containment: 5 faults injected")


def test_thresholds_file_tightens_a_bound(make_run: MakeRun, tmp_path: Path) -> None:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text('{"clean_p95_ms": 35}')

    code, verdict = judge(make_run(), thresholds_path=str(thresholds))

    assert code == 1
    assert verdict["thresholds"]["clean_p95_ms"] == 35
    assert "US containment: p95 40 ms > 35 ms" in verdict["reasons"]
