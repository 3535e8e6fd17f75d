"""The verdict as documents: verdict.json, verdict.md, junit.xml and the console table.

Every renderer returns bytes or text and touches no file; `write_atomically` puts the
finished documents in place, so a crash never leaves half a report.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.checks import Check, RegionVerdict, RunVerdict
from analysis.errors import BadInputError
from analysis.facts import RegionFacts
from analysis.thresholds import Thresholds

TABLE_COLUMNS = {
    "region": "region",
    "role": "role",
    "requests": "requests",
    "failures": "failures",
    "success_rate": "success",
    "p95_ms": "p95 ms",
    "dishonest": "dishonest",
    "staleness_p95_s": "staleness p95 s",
    "faults_injected": "faults",
    "cache_start": "cache start",
    "cache_end": "cache end",
    "verdict": "verdict",
}
LEFT_ALIGNED = {"region", "role", "cache start", "cache end", "verdict"}
RESULT_WORDS = {"pass": "pass", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "skipped": "skip"}


def table_records(facts: Sequence[RegionFacts], verdict: RunVerdict) -> list[dict[str, Any]]:
    """One plain record per region: what verdict.json's "table" holds."""
    verdicts = {region.region: region.verdict for region in verdict.regions}
    return [
        {
            "region": region.region,
            "role": region.role,
            "requests": region.requests,
            "failures": region.failures,
            "success_rate": region.success_rate,
            "p95_ms": region.p95_ms,
            "dishonest": region.dishonest,
            "staleness_p95_s": region.staleness_p95_s,
            "faults_injected": region.faults_injected,
            "cache_start": region.cache_start.matches_truth,
            "cache_end": region.cache_end.matches_truth,
            "verdict": verdicts[region.region],
        }
        for region in facts
    ]


def display_table(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The records formatted for people, with the console's column titles."""
    # dtype=object keeps None, True and False as they are instead of NaN and numpy bools.
    frame = pd.DataFrame(list(records), columns=list(TABLE_COLUMNS), dtype=object)
    shown = frame.map(_cell)
    shown["success_rate"] = frame["success_rate"].map(_percent)
    return shown.rename(columns=TABLE_COLUMNS)


def console_text(records: Sequence[Mapping[str, Any]], verdict: RunVerdict) -> str:
    """The aligned table, then the verdict line and one line per reason."""
    lines = [*_aligned(display_table(records)), f"verdict: {verdict.verdict}"]
    lines += [f"  {reason}" for reason in verdict.reasons]
    return "\n".join(lines)


def render_json(
    verdict: RunVerdict, thresholds: Thresholds, records: Sequence[Mapping[str, Any]]
) -> bytes:
    document = {
        "verdict": verdict.verdict,
        "target": verdict.target,
        "reasons": list(verdict.reasons),
        "regions": {
            region.region: {
                "role": region.role,
                "verdict": region.verdict,
                "checks": [check.as_dict() for check in region.checks],
            }
            for region in verdict.regions
        },
        "thresholds": thresholds.model_dump(),
        "table": list(records),
    }
    return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()


def render_markdown(verdict: RunVerdict, records: Sequence[Mapping[str, Any]]) -> bytes:
    lines = [
        f"# blast-radius verdict: {verdict.verdict}",
        "",
        f"Target region: **{verdict.target}**; every other region is clean.",
        "",
    ]
    if verdict.reasons:
        lines += ["## Reasons", "", *[f"- {_md(reason)}" for reason in verdict.reasons], ""]
    lines += ["## Regions", "", *_md_table(display_table(records)), ""]
    for region in verdict.regions:
        lines += _md_region(region)
    return ("\n".join(lines)).encode()


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


def write_atomically(out_dir: Path, documents: Mapping[str, bytes]) -> list[Path]:
    """Stage every document beside its final name, then rename them all into place."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(
            f"--out {out_dir}: cannot create it ({exc.strerror}): choose a writable folder"
        ) from exc
    staged: list[tuple[Path, Path]] = []
    try:
        for name, data in documents.items():
            final = out_dir / name
            staged.append((final.with_name(f".{name}.{os.getpid()}.tmp"), final))
            staged[-1][0].write_bytes(data)
    except OSError as exc:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise BadInputError(
            f"--out {out_dir}: cannot write reports ({exc.strerror}): choose a writable folder"
        ) from exc
    for tmp, final in staged:
        os.replace(tmp, final)
    return [final for _, final in staged]


def _count_into(element: ET.Element, checks: Sequence[Check]) -> None:
    statuses = [check.status() for check in checks]
    element.set("tests", str(len(statuses)))
    element.set("failures", str(statuses.count("fail")))
    element.set("errors", str(statuses.count("inconclusive")))
    element.set("skipped", str(statuses.count("skipped")))


def _testcase(suite: ET.Element, region: str, check: Check) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=f"blast_radius.{region}", name=f"{check.property}.{check.name}"
    )
    tag = {"fail": "failure", "inconclusive": "error", "skipped": "skipped"}.get(check.status())
    if tag is not None:
        outcome = ET.SubElement(case, tag, message=check.detail, type=check.property)
        outcome.text = check.detail
    else:
        ET.SubElement(case, "system-out").text = check.detail


def _aligned(frame: pd.DataFrame) -> list[str]:
    """Words left-aligned, numbers right-aligned, two spaces between columns."""
    columns = [str(column) for column in frame.columns]
    cells = [[str(cell) for cell in row] for row in frame.to_numpy()]
    widths = [
        max(len(text) for text in [title, *(row[i] for row in cells)])
        for i, title in enumerate(columns)
    ]
    left = [title in LEFT_ALIGNED for title in columns]

    def line(texts: Sequence[str]) -> str:
        padded = [
            text.ljust(width) if is_left else text.rjust(width)
            for text, width, is_left in zip(texts, widths, left, strict=True)
        ]
        return "  ".join(padded).rstrip()

    return [line(columns), *(line(row) for row in cells)]


def _md_region(region: RegionVerdict) -> list[str]:
    header = "| check | property | threshold | value | result | detail |"
    rows = [
        f"| {c.name} | {c.property} | {_md(_cell(c.threshold))} | {_md(_cell(c.value))} "
        f"| {RESULT_WORDS[c.status()]} | {_md(c.detail)} |"
        for c in region.checks
    ]
    title = f"## {region.region} ({region.role}): {region.verdict}"
    return [title, "", header, "|---|---|---|---|---|---|", *rows, ""]


def _md_table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_md(str(cell)) for cell in row) + " |" for row in frame.to_numpy()]
    return [header, rule, *body]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if value is True:
        return "ok"
    if value is False:
        return "DIFF"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, str) and len(value) > 16:
        # Digests: twelve hex digits tell two snapshots apart for a reader.
        return value[:12]
    return str(value)


def _percent(value: object) -> str:
    return f"{value:.2%}" if isinstance(value, float) else "-"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
