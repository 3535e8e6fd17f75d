"""Per-region checks and the verdict they add up to.

A check passes (True), fails (False) or is skipped (None, when there is nothing to
compare, such as a cache on an external stack). A failed check of the property
`evidence` means the run cannot tell, not that the system broke: it makes the verdict
INCONCLUSIVE. Any other failed check makes it FAIL, which beats INCONCLUSIVE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analysis.facts import CacheView, RegionFacts
from analysis.thresholds import Thresholds

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Status = Literal["pass", "fail", "inconclusive", "skipped"]

CONTAINMENT = "containment"
HONESTY = "honesty"
BOUNDED_LATENCY = "bounded_latency"
EVIDENCE = "evidence"


@dataclass(frozen=True)
class Check:
    """One measured value against one bound, in the shape verdict.json carries."""

    name: str
    property: str
    threshold: float | int | str | None
    value: float | int | str | None
    passed: bool | None
    detail: str

    def status(self) -> Status:
        if self.passed is None:
            return "skipped"
        if self.passed:
            return "pass"
        return "inconclusive" if self.property == EVIDENCE else "fail"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "property": self.property,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RegionVerdict:
    region: str
    role: str
    verdict: Verdict
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class RunVerdict:
    verdict: Verdict
    target: str
    reasons: tuple[str, ...]
    regions: tuple[RegionVerdict, ...]


def judge(facts: Sequence[RegionFacts], thresholds: Thresholds, target: str) -> RunVerdict:
    """Run every region's checks and combine them into the run's verdict."""
    regions = tuple(_judge_region(region, thresholds) for region in facts)
    failed = [(r.region, c) for r in regions for c in r.checks if c.status() == "fail"]
    missing = [(r.region, c) for r in regions for c in r.checks if c.status() == "inconclusive"]
    reasons = tuple(f"{region} {check.property}: {check.detail}" for region, check in failed)
    reasons += tuple(f"{region} {check.property}: {check.detail}" for region, check in missing)
    return RunVerdict(
        verdict=combine([r.verdict for r in regions]),
        target=target,
        reasons=reasons,
        regions=regions,
    )


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """FAIL beats INCONCLUSIVE beats PASS."""
    if "FAIL" in verdicts:
        return "FAIL"
    if "INCONCLUSIVE" in verdicts:
        return "INCONCLUSIVE"
    return "PASS"


def _judge_region(facts: RegionFacts, thresholds: Thresholds) -> RegionVerdict:
    if facts.role == "target":
        checks = target_checks(facts, thresholds)
    else:
        checks = clean_checks(facts, thresholds)
    statuses = {check.status() for check in checks}
    verdict: Verdict = "PASS"
    if "fail" in statuses:
        verdict = "FAIL"
    elif "inconclusive" in statuses:
        verdict = "INCONCLUSIVE"
    return RegionVerdict(facts.region, facts.role, verdict, tuple(checks))


def clean_checks(facts: RegionFacts, thresholds: Thresholds) -> list[Check]:
    """A clean region must look as if no fault had ever been injected anywhere."""
    return [
        requests_check(facts, thresholds.min_requests),
        success_check(facts, thresholds.clean_min_success_rate),
        p95_check(facts, thresholds.clean_p95_ms, CONTAINMENT),
        staleness_check(facts, thresholds.clean_staleness_p95_s),
        dishonest_check(facts),
        cache_check(facts.cache_end, CONTAINMENT),
        ledger_check(facts),
    ]


def target_checks(facts: RegionFacts, thresholds: Thresholds) -> list[Check]:
    """The target may degrade, but never lie, never hang, and must have been hit."""
    return [
        requests_check(facts, thresholds.min_requests),
        dishonest_check(facts),
        p95_check(facts, thresholds.target_p95_ms, BOUNDED_LATENCY),
        cache_check(facts.cache_end, HONESTY),
        faults_check(facts, thresholds.min_target_faults),
    ]


def requests_check(facts: RegionFacts, min_requests: int) -> Check:
    enough = facts.requests >= min_requests
    detail = f"{facts.requests} requests >= {min_requests}"
    if not enough:
        detail = f"{facts.requests} requests < {min_requests}: too few to judge the region"
    return Check("requests", EVIDENCE, min_requests, facts.requests, enough, detail)


def success_check(facts: RegionFacts, min_success_rate: float) -> Check:
    rate = facts.success_rate
    if rate is None:
        return Check("success_rate", CONTAINMENT, min_success_rate, None, None, "no requests")
    passed = rate >= min_success_rate
    sign = ">=" if passed else "<"
    detail = (
        f"success rate {rate:.2%} ({facts.failures} of {facts.requests} failed) "
        f"{sign} {min_success_rate:.2%}"
    )
    return Check("success_rate", CONTAINMENT, min_success_rate, rate, passed, detail)


def p95_check(facts: RegionFacts, bound_ms: float, prop: str) -> Check:
    if facts.p95_ms is None:
        return Check("p95_ms", prop, bound_ms, None, None, "no requests")
    passed = facts.p95_ms <= bound_ms
    sign = "<=" if passed else ">"
    detail = f"p95 {facts.p95_ms:g} ms {sign} {bound_ms:g} ms"
    return Check("p95_ms", prop, bound_ms, facts.p95_ms, passed, detail)


def staleness_check(facts: RegionFacts, bound_s: float) -> Check:
    age_s = facts.staleness_p95_s
    if age_s is None:
        detail = "no STALENESS rows: the responses reported no snapshot age"
        return Check("staleness_p95_s", CONTAINMENT, bound_s, None, None, detail)
    passed = age_s <= bound_s
    sign = "<=" if passed else ">"
    detail = f"staleness p95 {age_s:g} s {sign} {bound_s:g} s"
    return Check("staleness_p95_s", CONTAINMENT, bound_s, age_s, passed, detail)


def dishonest_check(facts: RegionFacts) -> Check:
    """Honesty is absolute: a single partial or garbage response fails it."""
    count = facts.dishonest
    detail = f"{count} dishonest responses"
    if facts.dishonest_messages:
        first = facts.dishonest_messages[0]
        others = len(facts.dishonest_messages) - 1
        detail += f" ({first}" + (f"; and {others} other messages)" if others else ")")
    return Check("dishonest_responses", HONESTY, 0, count, count == 0, detail)


def cache_check(view: CacheView, prop: str) -> Check:
    """The cache at the end must hold exactly the upstream's truth for its generation.

    Comparing with the truth of the cached generation, not the newest one, is what lets
    stale-but-complete pass and partial fail.
    """
    name = "cache_end"
    if view.skipped is not None:
        return Check(name, prop, None, None, None, view.skipped)
    state = view.state
    if state is None:
        return Check(name, prop, None, None, False, "absent from the end snapshot: cache lost")
    if state.truth_digest is None:
        detail = f"upstream truth unknown for generation {state.generation}"
        return Check(name, prop, None, state.digest, None, detail)
    passed = view.matches_truth is True
    where = f"generation {state.generation}"
    detail = f"end cache matches the truth of {where} ({state.rows} rows)"
    if not passed:
        detail = (
            f"end cache differs from the truth of {where}: {state.rows} rows, "
            f"truth {state.truth_rows} rows (digest {_short(state.digest)} "
            f"!= {_short(state.truth_digest)})"
        )
    return Check(name, prop, state.truth_digest, state.digest, passed, detail)


def ledger_check(facts: RegionFacts) -> Check:
    """A fault recorded for a clean region means the harness itself leaked."""
    count = facts.faults_injected
    if count is None:
        return Check("ledger_rows", CONTAINMENT, 0, None, None, "no ledger: no fault proxy")
    detail = "0 faults injected"
    if count:
        detail = f"{count} faults injected into a clean region ({_kinds(facts)}): harness leaked"
    return Check("ledger_rows", CONTAINMENT, 0, count, count == 0, detail)


def faults_check(facts: RegionFacts, min_faults: int) -> Check:
    """Without a fault reaching the target, a clean run proves nothing."""
    count = facts.faults_injected
    if count is None:
        detail = "no ledger: no fault is known to have reached the target"
        return Check("faults_injected", EVIDENCE, min_faults, None, min_faults == 0, detail)
    passed = count >= min_faults
    detail = f"{count} faults injected >= {min_faults}"
    if facts.fault_kinds:
        detail += f" ({_kinds(facts)})"
    if not passed:
        detail = f"{count} faults injected < {min_faults}: the run proves nothing"
    return Check("faults_injected", EVIDENCE, min_faults, count, passed, detail)


def _kinds(facts: RegionFacts) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in facts.fault_kinds.items())


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:12]
