"""The progress line's running verdict, read from Locust's own statistics."""

from __future__ import annotations

from locust.stats import RequestStats

from storm.progress import region_marks


def stats_with(rows: list[tuple[str, int, int]], errors: list[tuple[str, str]]) -> RequestStats:
    stats = RequestStats()
    for name, ok, failed in rows:
        for _ in range(ok + failed):
            stats.log_request("GET", name, 5, 100)
        for _ in range(failed):
            stats.log_error("GET", name, "unavailable: status 503")
    for name, error in errors:
        stats.log_error("GET", name, error)
    return stats


def test_every_region_ok_in_the_current_phase() -> None:
    stats = stats_with([(f"/discover [{r}] fault", 50, 0) for r in ("US", "DE")], [])
    marks = region_marks(stats, "fault", "DE")
    assert marks.startswith("US ok · GB - · DE target ok")


def test_clean_region_below_its_bound_is_flagged() -> None:
    stats = stats_with([("/discover [JP] fault", 90, 10)], [])
    assert "JP 90.0%!" in region_marks(stats, "fault", "DE")


def test_target_failures_are_not_flagged_but_dishonesty_is() -> None:
    stats = stats_with(
        [("/discover [DE] fault", 50, 50)], [("/discover [DE] fault", "dishonest: partial")]
    )
    assert "DE target 1 dishonest!" in region_marks(stats, "fault", "DE")


def test_other_phases_do_not_count() -> None:
    stats = stats_with([("/discover [JP] baseline", 0, 10)], [])
    assert "JP -" in region_marks(stats, "fault", "DE")
