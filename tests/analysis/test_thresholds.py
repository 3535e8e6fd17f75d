"""Thresholds files: JSON or TOML, per role and per region, refused in one line when wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from analysis import Thresholds
from analysis.__main__ import main
from analysis.errors import BadInputError
from analysis.thresholds import load_thresholds
from tests.analysis.runs import REPORTS, RegionLoad, RunSpec, check, judged

MakeRun = Callable[..., Path]


def test_defaults_are_the_origin_write_ups() -> None:
    thresholds = Thresholds()

    assert thresholds.clean.min_success_rate == 0.995
    assert thresholds.for_clean("US") == thresholds.clean
    assert thresholds.for_target("DE") == thresholds.target


def test_json_file_tightens_a_clean_bound(make_run: MakeRun, tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text('{"clean": {"p95_ms": 35}}')

    code, verdict = judged(make_run(), thresholds_path=str(path))

    assert code == 1
    assert verdict["thresholds"]["clean"]["p95_ms"] == 35
    assert verdict["reasons"] == ["US GB FR JP KR BR AU containment: fault: p95 40 ms > 35 ms"]


def test_toml_file_sets_target_bounds(make_run: MakeRun, tmp_path: Path) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[target]\nrecovery_s = 5\nmin_faults = 6\n")

    code, verdict = judged(make_run(), thresholds_path=str(path))

    assert code == 1
    assert check(verdict, "DE", "recovery_s")["threshold"] == 5
    assert check(verdict, "DE", "faults_injected")["status"] == "inconclusive"


def test_region_override_applies_to_the_role_the_region_has(
    make_run: MakeRun, tmp_path: Path
) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text("[regions.BR]\np95_ms = 30\n\n[regions.DE]\np95_ms = 30\n")
    spec = RunSpec()
    spec.loads["BR"] = RegionLoad(p95_ms=40)

    _, verdict = judged(make_run(spec), thresholds_path=str(path))

    assert check(verdict, "BR", "p95_ms")["status"] == "fail"
    assert check(verdict, "DE", "p95_ms")["threshold"] == 30
    assert check(verdict, "US", "p95_ms")["threshold"] == 1000


def test_zero_min_faults_accepts_a_run_without_faults(make_run: MakeRun, tmp_path: Path) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text('{"target": {"min_faults": 0}}')

    code, _ = judged(make_run(RunSpec(ledger=[])), thresholds_path=str(path))

    assert code == 0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.json", '{"clean_p95_ms": 800}', "unknown key 'clean_p95_ms': use only clean, target"),
        ("t.json", '{"clean": {"p95": 8}}', "unknown key 'clean.p95': use only min_requests"),
        ("t.json", '{"clean": {"p95_ms": "fast"}}', "clean.p95_ms = 'fast': Input should be"),
        ("t.json", '{"target": {"min_faults": 2.5}}', "target.min_faults = 2.5: Input should be"),
        ("t.json", '{"clean": {"min_success_rate": 1.0}}', "should be less than 1"),
        ("t.json", '{"clean": {"p95_ms": 800}', "not valid JSON"),
        ("t.json", "[800]", "Input should be a valid dictionary"),
        ("t.toml", "[clean\np95_ms = 800", "not valid TOML"),
        ("t.toml", "[regions.XX]\np95_ms = 1", "regions: unknown region 'XX'"),
        ("t.toml", "[regions.GB]\np95 = 1", "unknown key 'regions.GB.p95': use only"),
        ("t.toml", '[regions.GB]\nrecovery_s = "soon"', "regions.GB.recovery_s = 'soon'"),
    ],
    ids=[
        "unknown_top_key",
        "unknown_role_key",
        "string_for_number",
        "float_for_count",
        "rate_of_one",
        "cut_json",
        "list",
        "broken_toml",
        "unknown_region",
        "unknown_region_key",
        "region_value_of_wrong_type",
    ],
)
def test_bad_thresholds_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str], name: str, content: str, expected: str
) -> None:
    prefix = make_run()
    path = prefix.parent / name
    path.write_text(content)

    code = main([str(prefix), "--thresholds", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"analysis: --thresholds {path}: ")
    assert expected in err
    assert not [report for report in REPORTS if (prefix.parent / report).exists()]


def test_missing_thresholds_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"

    code = main([str(make_run()), "--thresholds", str(missing)])

    assert code == 2
    assert capsys.readouterr().err == (
        f"analysis: --thresholds {missing}: cannot read it (No such file or directory): "
        "give an existing JSON or TOML file\n"
    )


HUGE = "x" * 100_000


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"clean": {"p95_ms": HUGE}}, "clean.p95_ms = 'xxxxxxxx"),
        ({"clean": {HUGE: 1}}, "unknown key 'clean.xxxxxxxx"),
        ({"regions": {HUGE: {"p95_ms": 1}}}, "unknown region 'xxxxxxxx"),
        ({"regions": {"GB": {HUGE: 1}}}, "unknown key 'regions.GB.xxxxxxxx"),
        ({"regions": {"GB": {"p95_ms": HUGE}}}, "regions.GB.p95_ms = 'xxxxxxxx"),
        ({"regions": {"GB\nfake line": 5}}, "'regions.GB\\nfake line' = 5"),
    ],
    ids=["value", "key", "region", "region_key", "region_value", "newline_in_key"],
)
def test_hostile_thresholds_give_one_short_line(
    tmp_path: Path, document: dict[str, object], expected: str
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))

    with pytest.raises(BadInputError) as caught:
        load_thresholds(str(path))

    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "x" * 40 not in message and len(message) < 600, message
