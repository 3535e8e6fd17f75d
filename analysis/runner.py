"""One analysis run: read the run folder, judge it, write the reports, print the table."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from analysis.chart import ChartContext, render_png
from analysis.checks import RunVerdict, judge
from analysis.errors import BadInputError
from analysis.facts import collect_facts, run_regions
from analysis.inputs import RunFiles, load_run
from analysis.names import NamePattern
from analysis.reports import (
    Report,
    console_text,
    render_json,
    render_junit,
    render_markdown,
    write_atomically,
)
from analysis.thresholds import load_thresholds
from common import RegionError, parse_region

log = logging.getLogger(__name__)

EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}


class _CurrentStdout(logging.Handler):
    """Writes to whatever sys.stdout is at emit time, so a caller can capture the table."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


def table_logger() -> logging.Logger:
    """The logger the verdict table goes to: plain lines on stdout, not the log format."""
    logger = logging.getLogger("analysis.table")
    if not any(isinstance(handler, _CurrentStdout) for handler in logger.handlers):
        logger.addHandler(_CurrentStdout())
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


@dataclass(frozen=True)
class Evaluation:
    """A judged run: its inputs and everything the reports are made from."""

    files: RunFiles
    report: Report

    @property
    def verdict(self) -> RunVerdict:
        return self.report.verdict


def evaluate(
    prefix: str,
    target: str | None = None,
    thresholds_path: str | None = None,
    *,
    name_pattern: str | None = None,
) -> Evaluation:
    """Read and judge the run at `prefix` without writing anything.

    Raises BadInputError when an input cannot be used.
    """
    thresholds = load_thresholds(thresholds_path)
    files = load_run(prefix, NamePattern.compile(name_pattern))
    region = resolve_target(target, files)
    facts = collect_facts(files, region, run_regions(files, region))
    verdict = judge(facts, thresholds, region, files.phased)
    return Evaluation(files, Report(verdict, facts, thresholds, files.run_info))


def run(
    prefix: str,
    target: str | None = None,
    thresholds_path: str | None = None,
    out_dir: str | None = None,
    *,
    name_pattern: str | None = None,
) -> int:
    """Judge the run at `prefix`, write its reports and return the verdict's exit code.

    `name_pattern` reads the region (and phase) from request names other than the
    suite's (see analysis.names). Raises BadInputError (nothing written) when an input
    cannot be used.
    """
    evaluation = evaluate(prefix, target, thresholds_path, name_pattern=name_pattern)
    out = Path(out_dir) if out_dir else evaluation.files.prefix.parent
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out}: not a folder: choose a folder for the reports")

    report = evaluation.report
    written = write_atomically(
        out,
        {
            "verdict.json": render_json(report),
            "verdict.md": render_markdown(report),
            "junit.xml": render_junit(report.verdict),
            "blast_radius.png": render_png(evaluation.files.history, report.facts, _chart(report)),
        },
    )
    log.info("reports written: %s", ", ".join(str(path) for path in written))
    table_logger().info("%s", console_text(report))
    return exit_code(report.verdict)


def _chart(report: Report) -> ChartContext:
    target = report.target_facts()
    return ChartContext(
        target=report.verdict.target,
        verdict=report.verdict.verdict,
        thresholds=report.thresholds,
        run_info=report.run_info,
        recovery=None if target is None else target.recovery,
    )


def resolve_target(target: str | None, files: RunFiles) -> str:
    """--target when given, else the run file's target; either must be a known region."""
    run_target = files.run_info.target if files.run_info is not None else None
    if target is not None:
        try:
            region = parse_region(target)
        except RegionError as exc:
            raise BadInputError(f"--target: {exc}") from exc
        if run_target is not None and run_target.upper() != region:
            log.warning("--target %s overrides the run file's target %s", region, run_target)
        return region
    run_file = files.path("run.json")
    if run_target is None:
        raise BadInputError(f"no target: pass --target REGION ({run_file} names none)")
    try:
        return parse_region(run_target)
    except RegionError as exc:
        raise BadInputError(f"{run_file}: target: {exc}; or pass --target REGION") from exc


def exit_code(verdict: RunVerdict) -> int:
    return EXIT_CODES[verdict.verdict]
