"""The verdict as documents: verdict.json, verdict.md, junit.xml and the console tables.

Every renderer returns bytes or text and touches no file; `write_atomically` puts the
finished documents in place, so a crash never leaves half a report.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.checks import Check, RegionVerdict, RunVerdict
from analysis.errors import BadInputError
from analysis.facts import PhaseStats, RegionFacts, phase_records
from analysis.inputs import RunInfo
from analysis.names import PHASES, WHOLE_RUN
from analysis.thresholds import Thresholds

# Every check a region can have, in table order, with its column title.
CHECK_COLUMNS = {
    "requests": "reqs",
    "success_rate": "success",
    "p95_ms": "p95",
    "p95_ratio": "ratio",
    "staleness_p95_s": "stale",
    "dishonest_responses": "honest",
    "cache": "cache",
    "ledger_rows": "ledger",
    "ingest_deadline_ms": "hold",
    "recovery_s": "recovery",
    "upstream_pressure": "backoff",
    # Both backoff checks share the console's column: it shows the worse of the two.
    "false_recovery_failures": "backoff",
    "faults_injected": "faults",
}
# Longer titles where the markdown table has room for them.
MARKDOWN_TITLES = {
    **CHECK_COLUMNS,
    "requests": "requests",
    "p95_ratio": "p95 / baseline",
    "staleness_p95_s": "staleness",
    "ingest_deadline_ms": "ingest hold",
    "upstream_pressure": "upstream pressure",
    "false_recovery_failures": "failures after recovery",
}
CONSOLE_VERDICTS = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INC"}
CONSOLE_MARKS = {"pass": "ok", "fail": "FAIL", "inconclusive": "INC", "skipped": "skip"}
MARKDOWN_MARKS = {"pass": "✅", "fail": "❌", "inconclusive": "⚠️", "skipped": "⏭️"}
VERDICT_MARKS = {"PASS": "✅", "FAIL": "❌", "INCONCLUSIVE": "⚠️", "SKIPPED": "⏭️"}
# Which of several checks in one console column it shows: the one that ended worst.
STATUS_RANK = {"skipped": 0, "pass": 1, "inconclusive": 2, "fail": 3}
STATUS_WORDS = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "skipped": "skip"}


@dataclass(frozen=True)
class Report:
    """Everything the documents are made from."""

    verdict: RunVerdict
    facts: Sequence[RegionFacts]
    thresholds: Thresholds
    run_info: RunInfo | None

    def target_facts(self) -> RegionFacts | None:
        return next((f for f in self.facts if f.region == self.verdict.target), None)

    def recovery_check(self) -> Check | None:
        region = next((r for r in self.verdict.regions if r.role == "target"), None)
        return None if region is None else region.check("recovery_s")


def check_rows(verdict: RunVerdict) -> list[dict[str, Any]]:
    """One record per region: each check's status (None where the role has no such check)."""
    rows: list[dict[str, Any]] = []
    for region in verdict.regions:
        statuses = {check.name: check.status for check in region.checks}
        row: dict[str, Any] = {"region": region.region, "role": region.role}
        row.update({name: statuses.get(name) for name in CHECK_COLUMNS})
        row["verdict"] = region.verdict
        rows.append(row)
    return rows


def recovery_line(report: Report) -> str | None:
    """The recovery time in one sentence, or None when the run had no recovery to judge."""
    check = report.recovery_check()
    if check is None or check.status == "skipped":
        return None
    return f"recovery: {report.verdict.target} {check.detail} ({STATUS_WORDS[check.status]})"


# -- console ---------------------------------------------------------------------------


def console_text(report: Report) -> str:
    """The check table, the measured table, the recovery, the verdict and its reasons."""
    verdict = report.verdict
    lines = [*_check_table(verdict, CONSOLE_MARKS), ""]
    lines += [*_measured_table(report.facts, verdict.phased), ""]
    recovery = recovery_line(report)
    if recovery:
        lines.append(recovery)
    if report.run_info is not None and report.run_info.bugs:
        lines.append(f"stack: {stack_line(report.run_info)}")
    lines.append(f"verdict: {verdict.verdict}")
    lines += [f"  {reason}" for reason in verdict.reasons]
    return "\n".join(lines)


def _check_table(verdict: RunVerdict, marks: Mapping[str, str]) -> list[str]:
    """Region, role, one column per check, verdict; blank where the role has no such check.

    Columns are one space apart and an inconclusive region reads INC, like its checks: the
    cells are short words under their titles, and the table then fits 100 columns.
    """
    columns = list(dict.fromkeys(CHECK_COLUMNS.values()))
    titles = ["region", "role", *columns, "verdict"]
    rows = []
    for region in verdict.regions:
        cells = [_mark(_worst(region, column), marks) for column in columns]
        rows.append([region.region, region.role, *cells, CONSOLE_VERDICTS[region.verdict]])
    lines, _ = _aligned(titles, rows, right=set(), gaps=[1] * len(titles))
    return lines


def _worst(region: RegionVerdict, column: str) -> Check | None:
    """The check a console column shows: of those it stands for, the one that ended worst."""
    checks = [region.check(name) for name, title in CHECK_COLUMNS.items() if title == column]
    present = [check for check in checks if check is not None]
    return max(present, key=lambda check: STATUS_RANK[check.status], default=None)


def _mark(check: Check | None, marks: Mapping[str, str]) -> str:
    if check is None:
        return ""
    mark = marks[check.status]
    # The recovery time is the one number a reader looks for in this table.
    if check.name == "recovery_s" and isinstance(check.value, float | int):
        return f"{mark} {check.value:.0f}s"
    return mark


def _measured_table(facts: Sequence[RegionFacts], phased: bool) -> list[str]:
    """Per region, each phase's requests, success rate, p95 and staleness p95."""
    phases = PHASES if phased else (WHOLE_RUN,)
    group = ["reqs", "success", "p95 ms", "stale s"]
    titles = ["region"] + group * len(phases)
    rows = [
        [region.region, *(cell for phase in phases for cell in _phase_cells(region.phase(phase)))]
        for region in facts
    ]
    # One space inside a phase's group, three between groups.
    gaps = [0] + [3 if index % len(group) == 0 else 1 for index in range(len(titles) - 1)]
    lines, starts = _aligned(titles, rows, right=set(range(1, len(titles))), gaps=gaps)
    header = ""
    for index, phase in enumerate(phases):
        header = header.ljust(starts[1 + index * len(group)])
        header += "whole run" if phase == WHOLE_RUN else phase
    return [header, *lines]


def _phase_cells(stats: PhaseStats) -> list[str]:
    return [
        str(stats.requests),
        _percent(stats.success_rate),
        _number(stats.p95_ms),
        _number(stats.staleness_p95_s),
    ]


def _aligned(
    titles: Sequence[str], rows: Sequence[Sequence[str]], right: set[int], gaps: Sequence[int]
) -> tuple[list[str], list[int]]:
    """Lines with each column padded to its widest cell and `gaps[i]` spaces before column i
    (none before the first); `right` columns right-aligned. Also where each column starts.
    """
    widths = [
        max(len(text) for text in [title, *(row[i] for row in rows)])
        for i, title in enumerate(titles)
    ]
    starts, position = [], 0
    for index, width in enumerate(widths):
        position += gaps[index] if index else 0
        starts.append(position)
        position += width

    def line(texts: Sequence[str]) -> str:
        out = ""
        for index, (text, width) in enumerate(zip(texts, widths, strict=True)):
            out = out.ljust(starts[index])
            out += text.rjust(width) if index in right else text.ljust(width)
        return out.rstrip()

    return [line(titles), *(line(row) for row in rows)], starts


# -- verdict.json ----------------------------------------------------------------------


def render_json(report: Report) -> bytes:
    verdict = report.verdict
    document = {
        "verdict": verdict.verdict,
        "target": verdict.target,
        "phased": verdict.phased,
        "reasons": list(verdict.reasons),
        "properties": verdict.properties(),
        "recovery": _recovery_json(report),
        "regions": {
            region.region: {
                "role": region.role,
                "verdict": region.verdict,
                "checks": [check.as_dict() for check in region.checks],
            }
            for region in verdict.regions
        },
        "phases": phase_records(report.facts),
        "table": check_rows(verdict),
        "thresholds": report.thresholds.model_dump(),
    }
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()


def _recovery_json(report: Report) -> dict[str, Any] | None:
    facts, check = report.target_facts(), report.recovery_check()
    if facts is None or facts.recovery is None or check is None:
        return None
    return {
        **facts.recovery.model_dump(),
        "bound_s": check.threshold,
        "status": check.status,
        "detail": check.detail,
    }


# -- verdict.md ------------------------------------------------------------------------


def render_markdown(report: Report) -> bytes:
    """A CI job summary: headline, reasons, property and check tables, then the details."""
    verdict = report.verdict
    lines = [
        f"# {VERDICT_MARKS[verdict.verdict]} blast-radius verdict: {verdict.verdict}",
        "",
        _summary(report),
        "",
    ]
    if verdict.reasons:
        reasons = [f"- {MARKDOWN_MARKS[status]} {_md(text)}" for status, text in verdict.findings]
        lines += ["## Reasons", "", *reasons, ""]
    lines += ["## Properties", "", "| property | result |", "|---|---|"]
    lines += [
        f"| {name} | {VERDICT_MARKS[result]} {result} |"
        for name, result in verdict.properties().items()
    ]
    lines += ["", "## Checks", "", *_md_check_table(verdict), ""]
    lines += ["## Measured", "", *_md_phase_table(report.facts, verdict.phased), ""]
    lines += ["## Per region", ""]
    for region in verdict.regions:
        lines += _md_region(region)
    return ("\n".join(lines)).encode()


def _summary(report: Report) -> str:
    verdict = report.verdict
    parts = [f"Target region **{verdict.target}**, {len(verdict.regions) - 1} clean regions."]
    spans = _phase_spans(report.run_info)
    if spans:
        parts.append(f"Phases: {spans}.")
    elif not verdict.phased:
        parts.append("Request names carry no phase: every region is judged on the whole run.")
    recovery = recovery_line(report)
    if recovery:
        parts.append(f"**Recovery**: {recovery.removeprefix('recovery: ')}.")
    stack = stack_line(report.run_info)
    if stack:
        parts.append(f"Stack under test: {_md(stack)}.")
    return " ".join(parts)


def stack_line(run_info: RunInfo | None) -> str:
    """What the storm ran against, when it started the embedded stack itself."""
    if run_info is None or not run_info.embedded:
        return ""
    ingest = run_info.ingest or "hardened"
    bugs = ", ".join(run_info.bugs or []) or "none"
    return f"the embedded discovery service, {ingest} ingest, bugs on: {bugs}"


def _phase_spans(run_info: RunInfo | None) -> str:
    if run_info is None or not run_info.phases:
        return ""
    return ", ".join(
        f"{span.name} {_duration(span.end - span.start)}"
        for span in run_info.phases
        if span.start is not None and span.end is not None
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _md_check_table(verdict: RunVerdict) -> list[str]:
    legend = ", ".join(f"{mark} {STATUS_WORDS[status]}" for status, mark in MARKDOWN_MARKS.items())
    titles = ["region", "role", *MARKDOWN_TITLES.values(), "verdict"]
    rows = [
        [
            f"**{region.region}**" if region.role == "target" else region.region,
            region.role,
            *(_mark(region.check(name), MARKDOWN_MARKS) for name in CHECK_COLUMNS),
            f"{VERDICT_MARKS[region.verdict]} {region.verdict}",
        ]
        for region in verdict.regions
    ]
    return [*_md_table(titles, rows), "", f"{legend}; blank: not a check of that role."]


def _md_phase_table(facts: Sequence[RegionFacts], phased: bool) -> list[str]:
    """One row per region, four columns per phase; the judged phase's success with its
    95 % interval, which is what the success-rate check compares with its bound."""
    phases = PHASES if phased else (WHOLE_RUN,)
    judged = "fault" if phased else WHOLE_RUN
    titles = ["region"]
    for phase in phases:
        words = "whole run" if phase == WHOLE_RUN else phase
        titles += [f"{words} requests", f"{words} success", "p95 ms", "stale s"]
    titles.append("dishonest")
    rows = []
    for region in facts:
        cells = [f"**{region.region}**" if region.role == "target" else region.region]
        for phase in phases:
            stats = region.phase(phase)
            cells += [
                str(stats.requests),
                _success_with_interval(stats) if phase == judged else _percent(stats.success_rate),
                _number(stats.p95_ms),
                _number(stats.staleness_p95_s),
            ]
        cells.append(str(region.phase(WHOLE_RUN).dishonest))
        rows.append(cells)
    return _md_table(titles, rows)


def _success_with_interval(stats: PhaseStats) -> str:
    bounds = stats.success_bounds
    if bounds is None:
        return "-"
    return f"{_percent(stats.success_rate)} ({bounds[0]:.2%} to {bounds[1]:.2%})"


def _md_region(region: RegionVerdict) -> list[str]:
    # A region that did not pass is shown open: it is what the reader came for.
    opened = "" if region.verdict == "PASS" else " open"
    summary = f"{VERDICT_MARKS[region.verdict]} {region.region} ({region.role}): {region.verdict}"
    titles = ["check", "property", "threshold", "value", "result", "detail"]
    rows = [
        [
            c.name,
            c.property,
            _value(c.threshold, c.name),
            _value(c.value, c.name),
            f"{MARKDOWN_MARKS[c.status]} {STATUS_WORDS[c.status]}",
            c.detail,
        ]
        for c in region.checks
    ]
    return [
        f"<details{opened}><summary><b>{summary}</b></summary>",
        "",
        *_md_table(titles, rows),
        "",
        "</details>",
        "",
    ]


def _md_table(titles: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    header = "| " + " | ".join(titles) + " |"
    rule = "|" + "---|" * len(titles)
    return [header, rule, *("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)]


# -- junit.xml -------------------------------------------------------------------------


def render_junit(verdict: RunVerdict) -> bytes:
    """One testsuite per region, one testcase per check; inconclusive checks are errors."""
    root = ET.Element("testsuites", name="blast-radius")
    _count_into(root, [check for region in verdict.regions for check in region.checks])
    for region in verdict.regions:
        suite = ET.SubElement(root, "testsuite", name=f"{region.region} ({region.role})")
        _count_into(suite, region.checks)
        for check in region.checks:
            _testcase(suite, region.region, check)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


def _count_into(element: ET.Element, checks: Sequence[Check]) -> None:
    statuses = [check.status for check in checks]
    element.set("tests", str(len(statuses)))
    element.set("failures", str(statuses.count("fail")))
    element.set("errors", str(statuses.count("inconclusive")))
    element.set("skipped", str(statuses.count("skipped")))


def _testcase(suite: ET.Element, region: str, check: Check) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=f"blast_radius.{region}", name=f"{check.property}.{check.name}"
    )
    tag = {"fail": "failure", "inconclusive": "error", "skipped": "skipped"}.get(check.status)
    if tag is not None:
        outcome = ET.SubElement(case, tag, message=check.detail, type=check.property)
        outcome.text = check.detail
    else:
        ET.SubElement(case, "system-out").text = check.detail


# -- files -----------------------------------------------------------------------------


def write_atomically(out_dir: Path, documents: Mapping[str, bytes]) -> list[Path]:
    """Replace every report or none: check each destination, stage all, then rename all.

    A destination that is not a regular file (a folder, say) is refused before anything
    is written, and a failure while staging removes what was staged and leaves the old
    reports as they were. Renames within one folder only fail if the folder changes
    under the run; what was staged is still removed then.
    """
    _make_folder(out_dir)
    finals = [out_dir / name for name in documents]
    for final in finals:
        if final.exists() and not final.is_file():
            raise BadInputError(
                f"{final}: exists and is not a file (a folder?): remove it or pass another --out"
            )
    staged: list[tuple[Path, Path]] = []
    try:
        for final, data in zip(finals, documents.values(), strict=True):
            staged.append((final.with_name(f".{final.name}.{os.getpid()}.tmp"), final))
            staged[-1][0].write_bytes(data)
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise BadInputError(
            f"--out {out_dir}: cannot write {Path(exc.filename2 or exc.filename or out_dir).name} "
            f"({exc.strerror}): choose a writable folder"
        ) from exc
    return finals


def _make_folder(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(
            f"--out {out_dir}: cannot create it ({exc.strerror}): choose a writable folder"
        ) from exc


# -- cells -----------------------------------------------------------------------------


def _value(value: object, name: str) -> str:
    if value is None:
        return "-"
    if name == "success_rate":
        return _percent(value)
    if isinstance(value, float):
        return _number(value)
    return str(value)


def _number(value: object) -> str:
    if not isinstance(value, float | int):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _percent(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, float) else "-"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
