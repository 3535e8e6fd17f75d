"""The self-validation matrix: real short storms, and its bookkeeping on made-up results."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from discovery.ingest.bugs import BUGS
from faults.registry import KINDS
from storm import matrix
from storm.matrix import NO_BUG, REVEALING, VARIANTS, CellResult, findings, render_matrix

ROOT = Path(__file__).resolve().parents[2]


def run_matrix(*args: str, timeout_s: float = 220) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storm.matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def result(bug: str, variant: str, verdict: str, *properties: str) -> CellResult:
    return CellResult(
        bug, variant, verdict, 1 if verdict == "FAIL" else 0, [*properties], [], "", 1
    )


@pytest.mark.timeout(240)
def test_a_bug_is_caught_and_the_bug_free_stack_passes(tmp_path: Path) -> None:
    done = run_matrix(
        "--cells",
        "stream_commit:truncate,none:truncate",
        "--duration",
        "30s",
        "--out",
        str(tmp_path),
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    document = json.loads((tmp_path / "matrix.json").read_text())
    cells = {(r["bug"], r["variant"]): r for r in document["results"]}
    assert cells[("stream_commit", "truncate")]["verdict"] == "FAIL"
    assert "honesty" in cells[("stream_commit", "truncate")]["properties"]
    assert cells[(NO_BUG, "truncate")]["verdict"] == "PASS"
    assert document["problems"] == []
    table = (tmp_path / "matrix.md").read_text()
    assert "| stream_commit | FAIL honesty |" in table


@pytest.mark.parametrize(
    ("cells", "named"),
    [("gremlins:truncate", "gremlins"), ("none:sideways", "sideways"), ("none", "''")],
)
def test_an_unknown_cell_is_one_line_and_exit_2(tmp_path: Path, cells: str, named: str) -> None:
    done = run_matrix("--cells", cells, "--out", str(tmp_path))

    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert named in done.stderr and "use one of" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_every_bug_has_a_column_and_every_column_a_real_kind() -> None:
    assert set(REVEALING) == set(BUGS)
    for variants in REVEALING.values():
        assert variants and set(variants) <= set(VARIANTS)
    assert {variant.kind for variant in VARIANTS.values()} == set(KINDS)


def test_an_uncaught_bug_and_a_false_alarm_are_findings() -> None:
    results = [
        result("stream_commit", "truncate", "FAIL", "honesty"),
        result("serial_loop", "slowloris", "PASS"),
        result(NO_BUG, "truncate", "PASS"),
        result(NO_BUG, "flap", "FAIL", "containment"),
        result(NO_BUG, "slowloris", "INCONCLUSIVE"),
    ]

    problems = findings(results)

    assert problems == [
        "serial_loop: no fault variant caught it",
        "bug-free stack under flap: FAIL containment",
        "bug-free stack under slowloris: INCONCLUSIVE",
    ]
    table = render_matrix(results)
    assert "| bug | truncate | slowloris | flap |" in table
    assert "| serial_loop |  | PASS |  |" in table


def test_false_alarm_draws_are_reproducible_and_valid() -> None:
    rng, same, other = random.Random(7), random.Random(7), random.Random(8)
    first = [matrix.draw_false_alarm(rng) for _ in range(5)]
    assert first == [matrix.draw_false_alarm(same) for _ in range(5)]
    assert first != [matrix.draw_false_alarm(other) for _ in range(5)]
    for _, variants, probability, _ in first:
        kinds = [VARIANTS[name].kind for name in variants]
        assert len(kinds) == len(set(kinds)) and 1 <= len(kinds) <= 4
        assert 0.6 <= probability <= 1.0
