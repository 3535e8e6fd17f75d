"""One analysis run: read the run folder, judge it, write the reports, print the table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from analysis.chart import render_png
from analysis.checks import RunVerdict, judge
from analysis.errors import BadInputError
from analysis.facts import collect_facts, run_regions
from analysis.inputs import RunFiles, load_run
from analysis.reports import (
    console_text,
    render_json,
    render_junit,
    render_markdown,
    table_records,
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


def run(
    prefix: str,
    target: str | None = None,
    thresholds_path: str | None = None,
    out_dir: str | None = None,
) -> int:
    """Judge the run at `prefix`, write its reports and return the verdict's exit code.

    Raises BadInputError (nothing written) when an input cannot be used.
    """
    thresholds = load_thresholds(thresholds_path)
    files = load_run(prefix)
    region = resolve_target(target, files)
    out = Path(out_dir) if out_dir else files.prefix.parent
    if out.exists() and not out.is_dir():
        raise BadInputError(f"--out {out}: not a folder: choose a folder for the reports")

    facts = collect_facts(files, region, run_regions(files, region))
    verdict = judge(facts, thresholds, region)
    records = table_records(facts, verdict)
    written = write_atomically(
        out,
        {
            "verdict.json": render_json(verdict, thresholds, records),
            "verdict.md": render_markdown(verdict, records),
            "junit.xml": render_junit(verdict),
            "blast_radius.png": render_png(records, thresholds, region, verdict.verdict),
        },
    )
    log.info("reports written: %s", ", ".join(str(path) for path in written))
    table_logger().info("%s", console_text(records, verdict))
    return exit_code(verdict)


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
