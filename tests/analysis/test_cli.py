"""`python -m analysis` as a real child process: its exit codes and its output streams."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.analysis.runs import REPORTS, RegionLoad, RunSpec
from tests.conftest import run_module

MakeRun = Callable[..., Path]


def analyse(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module(["analysis", *args], timeout_s=60)


def inconclusive() -> RunSpec:
    return RunSpec(ledger=[])


def failing() -> RunSpec:
    spec = RunSpec()
    spec.phase_loads[("GB", "fault")] = RegionLoad(unavailable=400)
    return spec


@pytest.mark.parametrize(
    ("spec", "code", "verdict"),
    [(RunSpec, 0, "PASS"), (failing, 1, "FAIL"), (inconclusive, 3, "INCONCLUSIVE")],
    ids=["pass_exits_0", "fail_exits_1", "inconclusive_exits_3"],
)
def test_exit_code_follows_the_verdict(
    make_run: MakeRun, spec: Callable[[], RunSpec], code: int, verdict: str
) -> None:
    prefix = make_run(spec())

    result = analyse(str(prefix))

    assert result.returncode == code, result.stderr
    assert f"verdict: {verdict}" in result.stdout.splitlines()
    assert result.stderr == ""
    assert all((prefix.parent / name).exists() for name in REPORTS)


def test_bad_input_exits_2_with_one_stderr_line(make_run: MakeRun) -> None:
    prefix = make_run()

    result = analyse(str(prefix), "--target", "Mars")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "analysis: --target: unknown region 'Mars': use one of US GB DE FR JP KR BR AU"
    ]
    assert not [name for name in REPORTS if (prefix.parent / name).exists()]


def test_missing_prefix_argument_exits_2_with_one_line() -> None:
    result = analyse()

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "python -m analysis: the following arguments are required: PREFIX: see --help"
    ]


def test_names_outside_the_name_pattern_are_left_out_with_a_warning(make_run: MakeRun) -> None:
    prefix = make_run()
    pattern = r"\[(?P<region>US|DE)\] (?P<phase>\w+)"

    result = analyse(str(prefix), "--name-pattern", pattern)

    assert result.returncode == 3, result.stderr
    assert f"no region under --name-pattern {pattern!r} in " in result.stderr
    assert "  GB FR JP KR BR AU evidence: baseline 0, fault 0 requests: fewer" in result.stdout
