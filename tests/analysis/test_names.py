"""Region and phase from request names: the suite's names, older runs and foreign CSVs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.names import NamePattern
from tests.analysis.runs import (
    FAILURES_HEADER,
    STATS_HEADER,
    RunSpec,
    check,
    judged,
    stats_row,
    write_csv,
)

MakeRun = Callable[..., Path]


@pytest.mark.parametrize(
    ("name", "region", "phase"),
    [
        ("/discover [DE] baseline", "DE", "baseline"),
        ("/discover?q [de] fault", "DE", "fault"),
        ("JP recovery", "JP", "recovery"),
        ("/discover [US]", "US", None),
        ("KR", "KR", None),
        ("/discover [XX] fault", None, None),
        ("/login", None, None),
        ("Aggregated", None, None),
    ],
)
def test_default_pattern_reads_suite_names(
    name: str, region: str | None, phase: str | None
) -> None:
    labels = NamePattern.compile(None).label(pd.Series([name]), "stats.csv")

    found = labels.iloc[0]
    assert (None if pd.isna(found["region"]) else found["region"]) == region
    assert (None if pd.isna(found["phase"]) else found["phase"]) == phase


def test_run_without_phases_is_judged_on_the_whole_run(make_run: MakeRun) -> None:
    code, verdict = judged(make_run(RunSpec(phased=False, recovery=None)))

    assert code == 0
    assert verdict["phased"] is False
    assert check(verdict, "US", "success_rate")["detail"].startswith("whole run: 100.00% of 1000")
    assert check(verdict, "US", "p95_ratio")["detail"] == "no phases: no baseline"
    assert check(verdict, "US", "requests")["detail"] == "whole run 1000 requests >= 20"
    assert {record["phase"] for record in verdict["phases"]} == {"run"}


def test_run_without_phases_or_staleness_skips_staleness(make_run: MakeRun) -> None:
    spec = RunSpec(phased=False, recovery=None)
    for load in spec.loads.values():
        load.staleness_p95_ms = None

    code, verdict = judged(make_run(spec))

    assert code == 0
    assert check(verdict, "GB", "staleness_p95_s")["status"] == "skipped"


def foreign_run(folder: Path, names: dict[str, tuple[int, int]]) -> Path:
    """A Locust run of another suite: only stats and failures, names of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "shop"
    rows = [stats_row("GET", name, count, failed, 80) for name, (count, failed) in names.items()]
    rows.append(stats_row("", "Aggregated", sum(c for c, _ in names.values()), 0, 80))
    write_csv(Path(f"{prefix}_stats.csv"), STATS_HEADER, rows)
    write_csv(Path(f"{prefix}_failures.csv"), FAILURES_HEADER, [])
    return prefix


def test_foreign_names_are_read_with_a_name_pattern(tmp_path: Path) -> None:
    prefix = foreign_run(
        tmp_path,
        {
            "/api/feed?country=de": (1000, 0),
            "/api/feed?country=fr": (1000, 300),
            "/api/cart?country=fr": (500, 0),
            "/healthz": (10, 0),
        },
    )

    code, verdict = judged(prefix, target="DE", name_pattern=r"country=(?P<region>[a-z]{2})")

    assert code == 1
    assert list(verdict["regions"]) == ["DE", "FR"]
    assert check(verdict, "FR", "success_rate")["value"] == 0.8
    assert verdict["regions"]["FR"]["verdict"] == "FAIL"


def test_foreign_names_may_carry_a_phase(tmp_path: Path) -> None:
    pattern = r"^(?P<phase>\w+)/(?P<region>[A-Z]{2})/"
    prefix = foreign_run(
        tmp_path,
        {
            "baseline/US/feed": (1000, 0),
            "fault/US/feed": (1000, 200),
            "baseline/DE/feed": (1000, 0),
            "fault/DE/feed": (1000, 500),
        },
    )

    code, verdict = judged(prefix, target="DE", name_pattern=pattern)

    assert code == 1
    assert verdict["phased"] is True
    assert check(verdict, "US", "success_rate")["detail"].startswith("fault: 80.00% of 1000")


def test_foreign_names_without_pattern_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = foreign_run(tmp_path, {"/api/feed?country=de": (100, 0)})

    code = main([str(prefix), "--target", "DE"])

    assert code == 2
    assert capsys.readouterr().err == (
        f"analysis: {prefix}_stats.csv: no request name carries a region under the default "
        "name pattern (first name '/api/feed?country=de'): pass --name-pattern with a "
        "(?P<region>..) group\n"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("country=(?P<region>", "not a regular expression (missing ), unterminated subpattern"),
        ("country=([a-z]{2})", "no group named region: mark the region's part as (?P<region>..)"),
    ],
    ids=["not_a_regex", "no_region_group"],
)
def test_bad_name_pattern_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str, expected: str
) -> None:
    prefix = foreign_run(tmp_path, {"/api/feed?country=de": (100, 0)})

    code = main([str(prefix), "--target", "DE", "--name-pattern", pattern])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"analysis: --name-pattern {pattern!r}: ")
    assert expected in err
    assert len(err.splitlines()) == 1
