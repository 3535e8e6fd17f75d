"""Inputs the analysis refuses: exit 2, one stderr line naming the input, nothing written."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import pytest

from analysis.__main__ import main
from analysis.inputs import CONNECTIONS
from faults.wire import Connection
from tests.analysis.runs import REPORTS, RunSpec
from tests.conftest import run_module

MakeRun = Callable[..., Path]


def refuse(capsys: pytest.CaptureFixture[str], argv: list[str], out: Path) -> str:
    """Run the CLI in-process, assert the refusal contract and return the stderr line."""
    code = main(argv)

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert not [name for name in REPORTS if (out / name).exists()]
    assert not list(out.glob(".*.tmp"))
    return lines[0]


def rewrite(path: Path, transform: Callable[[str], str]) -> None:
    path.write_text(transform(path.read_text()))


@pytest.mark.parametrize(
    ("suffix", "transform", "expected"),
    [
        ("stats.csv", lambda text: "", "the file is empty"),
        ("stats.csv", lambda text: text[: len(text) // 2], "truncated"),
        ("stats.csv", lambda text: text.rsplit("\n", 2)[0] + "\n", "truncated"),
        ("stats.csv", lambda text: text.replace(",500,", ",five hundred,", 1), "not a count"),
        ("stats.csv", lambda text: text.replace("Failure Count", "Failures"), "missing columns"),
        ("stats.csv", lambda text: text.replace(",40,", ',"40,', 1), "garbled CSV"),
        ("stats.csv", lambda text: text.replace(",20,40,", ",20,fast,", 1), "not a number"),
        ("failures.csv", lambda text: "", "the file is empty"),
        ("failures.csv", lambda text: "Method,Name\n", "missing columns Error, Occurrences"),
        ("ledger.csv", lambda text: "when,where\n1,DE\n", "missing columns time, region"),
        ("snapshots.json", lambda text: text[:40], "the file is garbled"),
        ("snapshots.json", lambda text: '{"snapshots": [{"label": 3}]}', "the file is garbled"),
        ("run.json", lambda text: "[]", "the file is garbled"),
        ("snapshots.json", lambda text: '{"snapshots": [], "recovery": 3}', "the file is garbled"),
        ("stats_history.csv", lambda text: "", "the file is empty"),
        ("stats_history.csv", lambda text: text[: len(text) // 2], "truncated"),
        ("stats_history.csv", lambda text: text.rsplit(",", 9)[0] + "\n", "garbled or truncated"),
        ("stats_history.csv", lambda text: text.replace(",1000,", ",lots,", 1), "garbled"),
        ("stats_history.csv", lambda text: text.replace("Total Request", "Requests", 1), "missing"),
        ("ledger.csv", lambda text: text.replace(",3.5,", ",long,", 1), "not a number"),
    ],
    ids=[
        "empty_stats",
        "stats_cut_mid_row",
        "stats_without_aggregated_row",
        "stats_count_not_a_number",
        "stats_wrong_columns",
        "stats_unterminated_quote",
        "stats_percentile_not_a_number",
        "empty_failures",
        "failures_wrong_columns",
        "ledger_wrong_columns",
        "snapshots_cut",
        "snapshots_wrong_shape",
        "run_file_not_an_object",
        "recovery_not_an_object",
        "empty_history",
        "history_cut_mid_row",
        "history_row_short_of_cells",
        "history_count_not_a_number",
        "history_wrong_columns",
        "ledger_hold_time_not_a_number",
    ],
)
def test_damaged_run_file_is_refused_naming_it(
    make_run: MakeRun,
    capsys: pytest.CaptureFixture[str],
    suffix: str,
    transform: Callable[[str], str],
    expected: str,
) -> None:
    prefix = make_run()
    damaged = Path(f"{prefix}_{suffix}")
    rewrite(damaged, transform)

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {damaged}: ")
    assert expected in line


def lured_run(make_run: MakeRun) -> tuple[Path, Path]:
    """A run whose target false_recovery failed, served, then failed twice: its prefix and
    ledger (the header, the profile row, then the four rows)."""
    lured = [("DE", "false_recovery", 0.0, status) for status in (503, 200, 503, 503)]
    prefix = make_run(RunSpec(ledger=lured, profiles=[("DE", 1.0)]))
    return prefix, Path(f"{prefix}_ledger.csv")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        # The verdict tells false_recovery's served requests from its failures by the
        # status: none, or one no server sends, would count as either.
        ((4, "status", ""), "'status' is nothing, not a status (false_recovery always sends"),
        ((4, "status", "2"), "'status' is '2', not an HTTP status"),
        ((3, "status", "-503"), "'status' is '-503', not an HTTP status"),
        ((3, "status", "503.7"), "'status' is '503.7', not an HTTP status"),
        ((3, "status", "1000"), "'status' is '1000', not an HTTP status"),
        ((4, "kind", "FALSE_RECOVERY"), "'kind' is 'FALSE_RECOVERY', not a fault kind's name"),
        # A profile row's status is the control call's: a damaged one is damage all the same.
        ((2, "status", "2"), "'status' is '2', not an HTTP status"),
        # Cut inside the last column, the row still has every field.
        ((5, "connection", "re"), "'connection' is 're', not one of reusable, closed, poisoned"),
        ((6, "connection", ""), "'connection' is nothing, not one of reusable, closed, poisoned"),
        # The profile row says which kinds ran and how often: the verdict needs it whole.
        ((2, "params", "garbage"), "'params' is 'garbage', not a region's fault spec"),
        ((2, "params", '{"probability": 1.0, "types": "false_recovery"}'), "not a region's"),
        ((2, "params", '{"probability": 2, "types": ["false_recovery"]}'), "not a region's"),
    ],
)
def test_a_ledger_cell_no_proxy_writes_is_refused(
    make_run: MakeRun,
    capsys: pytest.CaptureFixture[str],
    cell: tuple[int, str, str],
    expected: str,
) -> None:
    line, column, value = cell
    prefix, ledger = lured_run(make_run)
    with ledger.open(newline="") as file:
        rows = list(csv.reader(file))
    rows[line - 1][rows[0].index(column)] = value
    with ledger.open("w", newline="") as file:
        csv.writer(file).writerows(rows)

    line_shown = refuse(capsys, [str(prefix)], prefix.parent)

    assert line_shown.startswith(f"analysis: {ledger}: line {line}: ")
    assert expected in line_shown


def test_the_connection_values_read_are_the_ones_the_proxy_writes() -> None:
    assert get_args(Connection) == CONNECTIONS


def test_a_ledger_cut_inside_its_last_row_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix, ledger = lured_run(make_run)
    text = ledger.read_text()
    # Cut inside the last status: "503" read as "50" would be a good answer.
    ledger.write_text(text[: text.rindex(",503,") + 3])

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {ledger}: truncated, its last row ends without a newline")


def test_missing_stats_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run()
    Path(f"{prefix}_stats.csv").unlink()

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line == (
        f"analysis: {prefix}_stats.csv: no such file: "
        "rerun the storm or pass the PREFIX given to locust --csv"
    )


def test_wrong_prefix_is_refused(make_run: MakeRun, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = make_run()

    line = refuse(capsys, [str(prefix.parent / "stats")], prefix.parent)

    assert "stats_stats.csv: no such file" in line


def test_unknown_target_is_refused(make_run: MakeRun, capsys: pytest.CaptureFixture[str]) -> None:
    prefix = make_run()

    line = refuse(capsys, [str(prefix), "--target", "XX"], prefix.parent)

    assert line == "analysis: --target: unknown region 'XX': use one of US GB DE FR JP KR BR AU"


def test_unknown_target_in_run_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run(RunSpec(target="ZZ"))

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {prefix}_run.json: target: unknown region 'ZZ'")


def test_no_target_anywhere_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run(RunSpec(run_file=False))

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith("analysis: no target: pass --target REGION")


def test_out_that_is_a_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prefix = make_run()
    out = tmp_path / "reports"
    out.write_text("not a folder")

    line = refuse(capsys, [str(prefix), "--out", str(out)], prefix.parent)

    assert line == f"analysis: --out {out}: not a folder: choose a folder for the reports"


def test_usage_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["a", "b"])

    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["python -m analysis: unrecognized arguments: b: see --help"]


def test_count_too_large_for_a_float_is_refused_by_the_cli(make_run: MakeRun) -> None:
    prefix = make_run()
    rewrite(Path(f"{prefix}_stats.csv"), lambda text: text.replace(",500,", ",1e400,", 1))

    result = run_module(["analysis", str(prefix)], timeout_s=60)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert "'Request Count' is '1e400', not a count" in line


def test_more_failures_than_requests_is_refused_naming_the_row(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run()
    stats = Path(f"{prefix}_stats.csv")
    rewrite(
        stats,
        lambda text: text.replace(
            "/discover [US] baseline,500,0,", "/discover [US] baseline,500,2000,", 1
        ),
    )

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {stats}: line 2 ('/discover [US] baseline'): 2000 failures")


def test_unknown_region_in_the_run_file_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run()
    run_file = Path(f"{prefix}_run.json")
    document = json.loads(run_file.read_text())
    run_file.write_text(json.dumps({**document, "regions": ["XX"]}))

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {run_file}: regions: 'XX' is not a known region")


@pytest.mark.parametrize("ending", ["\r\n", ""], ids=["newline_kept", "no_newline"])
def test_stats_cut_inside_the_aggregated_row_is_refused(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str], ending: str
) -> None:
    prefix = make_run()
    stats = Path(f"{prefix}_stats.csv")
    lines = stats.read_text().splitlines()
    # Six fields of the final row survive; its name is intact, its percentiles are gone.
    cut = ",".join(lines[-1].split(",")[:6])
    stats.write_text("\r\n".join([*lines[:-1], cut]) + ending)

    line = refuse(capsys, [str(prefix)], prefix.parent)

    assert line.startswith(f"analysis: {stats}: ")
    assert "truncated" in line


def test_report_name_taken_by_a_folder_is_refused_before_any_report_changes(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = make_run()
    out = prefix.parent
    (out / "verdict.json").write_text("old verdict")
    (out / "junit.xml").mkdir()

    code = main([str(prefix)])

    captured = capsys.readouterr()
    assert code == 2
    (line,) = captured.err.splitlines()
    assert line.startswith(f"analysis: {out / 'junit.xml'}: exists and is not a file")
    assert (out / "verdict.json").read_text() == "old verdict"
    assert not (out / "verdict.md").exists()
    assert not list(out.glob(".*.tmp"))
