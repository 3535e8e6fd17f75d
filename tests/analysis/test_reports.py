"""The reports a verdict leaves behind, and the table it prints."""

from __future__ import annotations

import contextlib
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

import analysis
from common import REGIONS
from tests.analysis.runs import REPORTS, RegionLoad, RunSpec

MakeRun = Callable[..., Path]
CHECK_KEYS = {"name", "property", "threshold", "value", "passed", "detail"}


@pytest.fixture
def failing_run(make_run: MakeRun) -> Path:
    """A run on an external stack (no snapshots) where DE served garbage three times."""
    spec = RunSpec(snapshots=False)
    spec.loads["DE"] = RegionLoad(dishonest={"garbage item without id": 3})
    return make_run(spec)


def test_reports_land_beside_the_prefix_without_leftovers(failing_run: Path) -> None:
    analysis.run(str(failing_run))

    folder = failing_run.parent
    assert all((folder / name).stat().st_size > 0 for name in REPORTS)
    assert not list(folder.glob(".*.tmp"))


def test_reports_go_to_out_when_given(failing_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "reports"

    analysis.run(str(failing_run), out_dir=str(out))

    assert sorted(path.name for path in out.iterdir()) == sorted(REPORTS)
    assert not (failing_run.parent / "verdict.json").exists()


def test_verdict_json_has_the_contract_shape(failing_run: Path) -> None:
    analysis.run(str(failing_run))

    verdict = json.loads((failing_run.parent / "verdict.json").read_text())
    assert set(verdict) == {"verdict", "target", "reasons", "regions", "thresholds", "table"}
    assert (verdict["verdict"], verdict["target"]) == ("FAIL", "DE")
    assert list(verdict["regions"]) == list(REGIONS)
    for region in verdict["regions"].values():
        assert set(region) == {"role", "verdict", "checks"}
        assert all(set(check) == CHECK_KEYS for check in region["checks"])
    assert verdict["thresholds"] == analysis.Thresholds().model_dump()
    assert [row["region"] for row in verdict["table"]] == list(REGIONS)


def test_junit_has_a_suite_per_region_and_a_case_per_check(failing_run: Path) -> None:
    analysis.run(str(failing_run))

    root = ET.parse(failing_run.parent / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [
        f"{region} ({'target' if region == 'DE' else 'clean'})" for region in REGIONS
    ]
    target = suites[REGIONS.index("DE")]
    failure = target.find("testcase[@name='honesty.dishonest_responses']/failure")
    assert failure is not None
    assert failure.get("message") == "3 dishonest responses (garbage item without id)"
    skipped = target.find("testcase[@name='honesty.cache_end']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "no snapshots: external stack"
    assert (root.get("failures"), root.get("skipped")) == ("1", "8")


def test_inconclusive_check_is_a_junit_error(make_run: MakeRun) -> None:
    prefix = make_run(RunSpec(ledger=[]))

    analysis.run(str(prefix))

    root = ET.parse(prefix.parent / "junit.xml").getroot()
    error = root.find("testsuite/testcase[@name='evidence.faults_injected']/error")
    assert error is not None
    assert error.text == "0 faults injected < 1: the run proves nothing"


def test_png_is_a_png(failing_run: Path) -> None:
    analysis.run(str(failing_run))

    assert (failing_run.parent / "blast_radius.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_names_the_verdict_reasons_and_every_region(failing_run: Path) -> None:
    analysis.run(str(failing_run))

    text = (failing_run.parent / "verdict.md").read_text()
    assert text.startswith("# blast-radius verdict: FAIL\n")
    assert "- DE honesty: 3 dishonest responses (garbage item without id)" in text
    assert all(f"\n| {region} | " in text for region in REGIONS)
    assert "## DE (target): FAIL" in text


def test_table_and_verdict_go_to_the_current_stdout(failing_run: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = analysis.run(str(failing_run))

    lines = out.getvalue().splitlines()
    assert code == 1
    assert lines[0].split()[:4] == ["region", "role", "requests", "failures"]
    assert [line.split()[0] for line in lines[1:9]] == list(REGIONS)
    assert lines[9] == "verdict: FAIL"
    assert lines[10] == "  DE honesty: 3 dishonest responses (garbage item without id)"


def test_table_counts_are_right_aligned_under_their_title(failing_run: Path) -> None:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        analysis.run(str(failing_run))

    header, *rows = out.getvalue().splitlines()[:9]
    end = header.index("requests") + len("requests")
    assert [row[end - 4 : end + 1] for row in rows] == [" 200 "] * len(REGIONS)
