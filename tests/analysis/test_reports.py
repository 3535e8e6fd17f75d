"""The reports a verdict leaves behind, the tables it prints and the chart it draws."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

import analysis
from analysis.chart import build_timeline
from analysis.inputs import load_run
from common import REGIONS
from tests.analysis.runs import REPORTS, RegionLoad, RunSpec

MakeRun = Callable[..., Path]
CHECK_KEYS = {"name", "property", "threshold", "value", "passed", "status", "detail"}


@pytest.fixture
def failing_run(make_run: MakeRun) -> Path:
    """A storm on an external stack (no snapshots) where DE served garbage three times."""
    spec = RunSpec(snapshots=False)
    spec.phase_loads[("DE", "fault")] = RegionLoad(dishonest={"garbage item without id": 3})
    return make_run(spec)


def run_quietly(prefix: Path, **options: str) -> tuple[int, list[str]]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = analysis.run(str(prefix), **options)
    return code, out.getvalue().splitlines()


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_reports_land_beside_the_prefix_without_leftovers(failing_run: Path) -> None:
    run_quietly(failing_run)

    folder = failing_run.parent
    assert all((folder / name).stat().st_size > 0 for name in REPORTS)
    assert not list(folder.glob(".*.tmp"))


def test_reports_go_to_out_when_given(failing_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere" / "reports"

    run_quietly(failing_run, out_dir=str(out))

    assert sorted(path.name for path in out.iterdir()) == sorted(REPORTS)
    assert not (failing_run.parent / "verdict.json").exists()


def test_verdict_json_has_the_contract_shape(failing_run: Path) -> None:
    run_quietly(failing_run)

    verdict = json.loads((failing_run.parent / "verdict.json").read_text())
    assert set(verdict) == {
        "verdict",
        "target",
        "phased",
        "reasons",
        "properties",
        "recovery",
        "regions",
        "phases",
        "table",
        "thresholds",
    }
    assert (verdict["verdict"], verdict["target"], verdict["recovery"]) == ("FAIL", "DE", None)
    assert list(verdict["regions"]) == list(REGIONS)
    for region in verdict["regions"].values():
        assert set(region) == {"role", "verdict", "checks"}
        assert all(set(check) == CHECK_KEYS for check in region["checks"])
    assert len(verdict["phases"]) == len(REGIONS) * 4
    fault = next(r for r in verdict["phases"] if (r["region"], r["phase"]) == ("DE", "fault"))
    assert (fault["requests"], fault["failures"], fault["dishonest"]) == (1000, 3, 3)
    assert fault["success_lower_95"] < 0.997 < fault["success_upper_95"]
    assert verdict["thresholds"] == analysis.Thresholds().model_dump()
    assert verdict["table"][2] | {"cache": None} == {
        "region": "DE",
        "role": "target",
        "requests": "pass",
        "success_rate": None,
        "p95_ms": "pass",
        "p95_ratio": None,
        "staleness_p95_s": None,
        "dishonest_responses": "fail",
        "cache": None,
        "ledger_rows": None,
        "ingest_deadline_ms": "skipped",
        "recovery_s": "skipped",
        "upstream_pressure": "skipped",
        "false_recovery_failures": "skipped",
        "faults_injected": "pass",
        "verdict": "FAIL",
    }


def test_junit_has_a_suite_per_region_and_a_case_per_check(failing_run: Path) -> None:
    run_quietly(failing_run)

    root = ET.parse(failing_run.parent / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [suite.get("name") for suite in suites] == [
        f"{region} ({'target' if region == 'DE' else 'clean'})" for region in REGIONS
    ]
    target = suites[REGIONS.index("DE")]
    failure = target.find("testcase[@name='honesty.dishonest_responses']/failure")
    assert failure is not None
    assert failure.get("message") == "3 dishonest responses (fault 3): garbage item without id"
    skipped = target.find("testcase[@name='honesty.cache']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "no snapshots: external stack"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("65", "1", "12")


def test_inconclusive_check_is_a_junit_error(make_run: MakeRun) -> None:
    prefix = make_run(RunSpec(ledger=[]))

    run_quietly(prefix)

    root = ET.parse(prefix.parent / "junit.xml").getroot()
    error = root.find("testsuite/testcase[@name='evidence.faults_injected']/error")
    assert error is not None
    assert error.text == "0 faults injected < 1: the run proves nothing"


def test_markdown_reads_as_a_job_summary(failing_run: Path) -> None:
    run_quietly(failing_run)

    text = (failing_run.parent / "verdict.md").read_text()
    assert text.startswith("# ❌ blast-radius verdict: FAIL\n")
    assert "Phases: baseline 10 s, fault 30 s, recovery 20 s." in text
    assert "- ❌ DE honesty: 3 dishonest responses (fault 3): garbage item without id" in text
    assert "| honesty | ❌ FAIL |" in text
    assert all(f"\n| {region} | clean | " in text for region in REGIONS if region != "DE")
    assert "\n| **DE** | target | " in text
    assert "<details open><summary><b>❌ DE (target): FAIL</b></summary>" in text
    assert "<details><summary><b>✅ US (clean): PASS</b></summary>" in text


def test_markdown_reports_the_recovery_time(make_run: MakeRun) -> None:
    prefix = make_run()

    run_quietly(prefix)

    text = (prefix.parent / "verdict.md").read_text()
    assert text.startswith("# ✅ blast-radius verdict: PASS\n")
    assert "**Recovery**: DE healed 8.0 s after the faults stopped <= 30 s (pass)." in text


def test_console_prints_checks_measures_recovery_and_verdict(make_run: MakeRun) -> None:
    code, lines = run_quietly(make_run())

    assert code == 0
    assert lines[0].split() == [
        "region",
        "role",
        "reqs",
        "success",
        "p95",
        "ratio",
        "stale",
        "honest",
        "cache",
        "ledger",
        "hold",
        "recovery",
        "backoff",
        "faults",
        "verdict",
    ]
    assert [line.split()[0] for line in lines[1:9]] == list(REGIONS)
    assert lines[3].split() == [
        *["DE", "target", "ok", "ok", "ok", "ok", "skip", "ok", "8s", "ok", "ok", "PASS"],
    ]
    assert lines[10].split() == ["baseline", "fault", "recovery"]
    assert lines[-2:] == [
        "recovery: DE healed 8.0 s after the faults stopped <= 30 s (pass)",
        "verdict: PASS",
    ]
    assert max(len(line) for line in lines) <= 100


@pytest.mark.parametrize(
    ("ingest", "bugs", "shown"),
    [
        ("hardened", [], "hardened ingest, bugs on: none"),
        (
            "hardened",
            ["stream_commit", "trust_clocks"],
            "hardened ingest, bugs on: stream_commit, trust_clocks",
        ),
    ],
)
def test_the_reports_name_the_embedded_stack_and_its_bugs(
    make_run: MakeRun, ingest: str, bugs: list[str], shown: str
) -> None:
    prefix = make_run()
    run_file = Path(f"{prefix}_run.json")
    document = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**document, "embedded": True, "ingest": ingest, "bugs": bugs}))

    _, lines = run_quietly(prefix)

    text = (prefix.parent / "verdict.md").read_text()
    assert "Stack under test: the embedded discovery service, " in text and shown in text
    stack_lines = [line for line in lines if line.startswith("stack: ")]
    assert stack_lines == ([f"stack: the embedded discovery service, {shown}"] if bugs else [])


def test_an_external_stack_is_not_named(failing_run: Path) -> None:
    run_quietly(failing_run)

    assert "Stack under test" not in (failing_run.parent / "verdict.md").read_text()


def test_console_reasons_follow_the_verdict(failing_run: Path) -> None:
    code, lines = run_quietly(failing_run)

    assert code == 1
    assert lines[-2:] == [
        "verdict: FAIL",
        "  DE honesty: 3 dishonest responses (fault 3): garbage item without id",
    ]


def test_chart_is_a_three_panel_timeline_with_history(make_run: MakeRun) -> None:
    prefix = make_run()

    run_quietly(prefix)

    width, height = png_size(prefix.parent / "blast_radius.png")
    assert width > 1000
    assert height > 900


def test_chart_falls_back_to_bars_without_history(make_run: MakeRun) -> None:
    prefix = make_run(RunSpec(history=False))

    run_quietly(prefix)

    assert png_size(prefix.parent / "blast_radius.png") == (1100, 450)


def test_timeline_takes_success_from_the_growth_of_cumulative_counts(make_run: MakeRun) -> None:
    spec = RunSpec()
    spec.phase_loads[("DE", "fault")] = RegionLoad(requests=900, unavailable=450, p95_ms=2500)
    files = load_run(str(make_run(spec)))
    assert files.history is not None

    timeline = build_timeline(files.history)

    assert timeline.bucket_s == 1.0
    de = timeline.success["DE"]
    assert de.loc[2.0] == 100.0
    assert de.loc[20.0] == pytest.approx(50.0, abs=3.0)
    assert timeline.success["US"].loc[20.0] == 100.0
    assert timeline.p95_ms["DE"].loc[20.0] == 2500.0
    assert timeline.staleness_s["US"].loc[20.0] == 2.0


def test_reports_are_the_same_bytes_whatever_the_hash_seed(make_run: MakeRun) -> None:
    # Every phase has the same p95: the whole-run detail must name the same one each time.
    prefix = make_run()
    written = []
    for seed in ("1", "2", "3"):
        out = prefix.parent / f"seed{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-m", "analysis", str(prefix), "--out", str(out)],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        written.append([(out / name).read_bytes() for name in ("verdict.json", "verdict.md")])
    assert written[0] == written[1] == written[2]
