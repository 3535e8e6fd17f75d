"""Per-region checks and the verdict they add up to.

Each check compares one measured value with one bound and ends `pass`, `fail`,
`inconclusive` (the data cannot decide: too few requests, a fault that never reached the
target, a recovery watched for too short a time) or `skipped` (nothing to compare, such
as a cache on an external stack). A region, and the run, is FAIL when any check failed,
else INCONCLUSIVE when any check could not decide, else PASS. The evidence checks
(requests, faults_injected) never fail: they only say whether the run can tell.

Data a storm always produces (a p95, a staleness row, a snapshot) but this run lacks
makes a check inconclusive; data only a storm produces, missing from a run whose names
carry no phases (an older run, or another tool's), makes it skipped.

When request names carry phases, a clean region is judged on the fault window against
its own baseline; without phases (runs of other tools, runs before phases) on the whole
run. A success rate passes only when the lower bound of its 95 % Wilson interval clears
the bound, fails when the upper bound misses it, and is inconclusive in between, with
the number of requests that would decide it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from analysis.confidence import requests_needed, wilson_bounds
from analysis.facts import CacheView, PhaseStats, RegionFacts
from analysis.names import PHASES, WHOLE_RUN
from analysis.thresholds import CleanThresholds, TargetThresholds, Thresholds

Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Status = Literal["pass", "fail", "inconclusive", "skipped"]

# The counts listed in a check's detail; the rest are summed up by the median.
MAX_LISTED = 10

CONTAINMENT = "containment"
HONESTY = "honesty"
BOUNDED_LATENCY = "bounded_latency"
IDEMPOTENT_RECOVERY = "idempotent_recovery"
BACKOFF = "backoff"
EVIDENCE = "evidence"
PROPERTIES = (CONTAINMENT, HONESTY, BOUNDED_LATENCY, IDEMPOTENT_RECOVERY, BACKOFF, EVIDENCE)
BASELINE = "baseline"
FAULT = "fault"
# The snapshots a cache is judged in: after the fault window, and at the very end.
JUDGED_SNAPSHOTS = ("fault_end", "end")

Number = float | int


@dataclass(frozen=True)
class Check:
    """One measured value against one bound, in the shape verdict.json carries."""

    name: str
    property: str
    threshold: Number | str | None
    value: Number | str | None
    status: Status
    detail: str

    def passed(self) -> bool | None:
        """True for pass, None for skipped, False otherwise: an undecided check did not pass."""
        if self.status == "skipped":
            return None
        return self.status == "pass"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "property": self.property,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed(),
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RegionVerdict:
    region: str
    role: str
    verdict: Verdict
    checks: tuple[Check, ...]

    def check(self, name: str) -> Check | None:
        return next((check for check in self.checks if check.name == name), None)


@dataclass(frozen=True)
class RunVerdict:
    verdict: Verdict
    target: str
    phased: bool
    # (status, reason): every failed check first, then every undecided one
    findings: tuple[tuple[Status, str], ...]
    regions: tuple[RegionVerdict, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(reason for _, reason in self.findings)

    def properties(self) -> dict[str, str]:
        """Each property's overall result; SKIPPED when no check of it could run."""
        result: dict[str, str] = {}
        for name in PROPERTIES:
            statuses = {c.status for r in self.regions for c in r.checks if c.property == name}
            result[name] = _combined_status(statuses)
        return result


def judge(
    facts: Sequence[RegionFacts], thresholds: Thresholds, target: str, phased: bool
) -> RunVerdict:
    """Run every region's checks and combine them into the run's verdict."""
    regions = tuple(_judge_region(region, thresholds, phased) for region in facts)
    return RunVerdict(
        verdict=combine([r.verdict for r in regions]),
        target=target,
        phased=phased,
        findings=_reasons(regions, "fail") + _reasons(regions, "inconclusive"),
        regions=regions,
    )


def _reasons(regions: Sequence[RegionVerdict], status: Status) -> tuple[tuple[Status, str], ...]:
    """`REGION property: detail`, one line per distinct detail, naming every region it hit."""
    hit: dict[tuple[str, str], list[str]] = {}
    for region in regions:
        for check in region.checks:
            if check.status == status:
                hit.setdefault((check.property, check.detail), []).append(region.region)
    return tuple(
        (status, f"{' '.join(names)} {prop}: {detail}") for (prop, detail), names in hit.items()
    )


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """FAIL beats INCONCLUSIVE beats PASS."""
    if "FAIL" in verdicts:
        return "FAIL"
    if "INCONCLUSIVE" in verdicts:
        return "INCONCLUSIVE"
    return "PASS"


def _combined_status(statuses: set[Status]) -> str:
    for status, word in (("fail", "FAIL"), ("inconclusive", "INCONCLUSIVE"), ("pass", "PASS")):
        if status in statuses:
            return word
    return "SKIPPED"


def _judge_region(facts: RegionFacts, thresholds: Thresholds, phased: bool) -> RegionVerdict:
    if facts.role == "target":
        checks = target_checks(facts, thresholds.for_target(facts.region), phased)
    else:
        checks = clean_checks(facts, thresholds.for_clean(facts.region), phased)
    verdict: Verdict = "PASS"
    if any(check.status == "fail" for check in checks):
        verdict = "FAIL"
    elif any(check.status == "inconclusive" for check in checks):
        verdict = "INCONCLUSIVE"
    return RegionVerdict(facts.region, facts.role, verdict, tuple(checks))


def clean_checks(facts: RegionFacts, bounds: CleanThresholds, phased: bool) -> list[Check]:
    """A clean region must look, during the fault window, as it did before it."""
    judged = FAULT if phased else WHOLE_RUN
    baseline = facts.phases.get(BASELINE) if phased else None
    return [
        requests_check(facts, bounds.min_requests, (BASELINE, FAULT) if phased else (WHOLE_RUN,)),
        success_check(facts.phase(judged), baseline, bounds.min_success_rate, judged),
        p95_check(facts.phase(judged), bounds.p95_ms, CONTAINMENT, judged),
        p95_ratio_check(facts.phase(judged), baseline, bounds, phased),
        staleness_check(facts.phase(judged), baseline, bounds, judged, phased),
        dishonest_check(facts),
        cache_check(facts, CONTAINMENT),
        ledger_check(facts),
    ]


def target_checks(facts: RegionFacts, bounds: TargetThresholds, phased: bool) -> list[Check]:
    """The target may degrade, but never lie, never hang, must heal, and must have been hit."""
    return [
        requests_check(facts, bounds.min_requests, (FAULT,) if phased else (WHOLE_RUN,)),
        dishonest_check(facts),
        p95_check(facts.phase(WHOLE_RUN), bounds.p95_ms, BOUNDED_LATENCY, worst_phase(facts)),
        cache_check(facts, HONESTY),
        ingest_deadline_check(facts, bounds),
        recovery_check(facts, bounds.recovery_s),
        upstream_pressure_check(facts, bounds),
        false_recovery_check(facts, bounds),
        faults_check(facts, bounds.min_faults),
    ]


def worst_phase(facts: RegionFacts) -> str:
    """The phase whose p95 is the run's, for the detail of a whole-run p95."""
    # In phase order, so that a tie names the earliest phase whatever the dict's order.
    phased = {name: facts.phases[name].p95_ms for name in PHASES if name in facts.phases}
    measured = {name: p95 for name, p95 in phased.items() if p95 is not None}
    if not measured:
        return WHOLE_RUN
    return f"whole run (highest in {max(measured, key=lambda name: measured[name])})"


def requests_check(facts: RegionFacts, min_requests: int, phases: Sequence[str]) -> Check:
    counts = {phase: facts.phase(phase).requests for phase in phases}
    fewest = min(counts.values())
    listed = ", ".join(f"{_words(phase)} {count}" for phase, count in counts.items())
    if fewest >= min_requests:
        return Check(
            "requests",
            EVIDENCE,
            min_requests,
            fewest,
            "pass",
            f"{listed} requests >= {min_requests}",
        )
    detail = f"{listed} requests: fewer than {min_requests}, too few to judge the region"
    return Check("requests", EVIDENCE, min_requests, fewest, "inconclusive", detail)


def success_check(
    stats: PhaseStats, baseline: PhaseStats | None, min_rate: float, phase: str
) -> Check:
    """Pass on the Wilson lower bound, fail on the upper bound, undecided in between."""
    name = "success_rate"
    before = "" if baseline is None else f"; baseline {_rate_of(baseline)}"
    if stats.requests == 0:
        needed = requests_needed(0, min_rate)
        detail = f"no requests in {_words(phase)}: need {needed} to judge {min_rate:.2%}"
        return Check(name, CONTAINMENT, min_rate, None, "inconclusive", detail + before)
    rate = stats.success_rate
    lower, upper = wilson_bounds(stats.requests - stats.failures, stats.requests)
    measured = f"{_words(phase)}: {_rate_of(stats)}"
    if lower >= min_rate:
        detail = f"{measured}, 95 % lower bound {lower:.2%} >= {min_rate:.2%}{before}"
        return Check(name, CONTAINMENT, min_rate, rate, "pass", detail)
    if upper < min_rate:
        detail = f"{measured}, 95 % upper bound {upper:.2%} < {min_rate:.2%}{before}"
        return Check(name, CONTAINMENT, min_rate, rate, "fail", detail)
    needed = requests_needed(stats.failures, min_rate)
    detail = (
        f"{measured}, 95 % interval {lower:.2%} to {upper:.2%} contains {min_rate:.2%}: "
        f"too few to decide, need {needed} requests ({needed - stats.requests} more "
        f"without a failure){before}"
    )
    return Check(name, CONTAINMENT, min_rate, rate, "inconclusive", detail)


def p95_check(stats: PhaseStats, bound_ms: float, prop: str, phase: str) -> Check:
    if stats.p95_ms is None:
        detail = f"{_words(phase)}: no p95, no request was answered"
        return Check("p95_ms", prop, bound_ms, None, "inconclusive", detail)
    passed = stats.p95_ms <= bound_ms
    sign = "<=" if passed else ">"
    detail = f"{_words(phase)}: p95 {stats.p95_ms:g} ms {sign} {bound_ms:g} ms"
    return Check("p95_ms", prop, bound_ms, stats.p95_ms, _status(passed), detail)


def p95_ratio_check(
    stats: PhaseStats, baseline: PhaseStats | None, bounds: CleanThresholds, phased: bool
) -> Check:
    """The fault window's p95 against the baseline's, floored so that small p95s never fail.

    Both p95s are raised to the floor before dividing: 3 ms against 6 ms is noise, and a
    baseline of 0 ms (Locust's bucket for sub-millisecond answers) divides nothing.
    """
    name, bound, floor_ms = "p95_ratio", bounds.p95_ratio, bounds.p95_ratio_floor_ms
    if not phased:
        return Check(name, CONTAINMENT, bound, None, "skipped", "no phases: no baseline")
    if baseline is None or baseline.p95_ms is None or stats.p95_ms is None:
        detail = "no p95 in the baseline or the fault phase to compare"
        return Check(name, CONTAINMENT, bound, None, "inconclusive", detail)
    ratio = max(stats.p95_ms, floor_ms) / max(baseline.p95_ms, floor_ms)
    passed = ratio <= bound
    sign = "<=" if passed else ">"
    detail = (
        f"fault p95 {stats.p95_ms:g} ms / baseline {baseline.p95_ms:g} ms "
        f"(each at least {floor_ms:g} ms) = {ratio:.2f} {sign} {bound:g}"
    )
    return Check(name, CONTAINMENT, bound, round(ratio, 3), _status(passed), detail)


def staleness_check(
    stats: PhaseStats,
    baseline: PhaseStats | None,
    bounds: CleanThresholds,
    phase: str,
    phased: bool,
) -> Check:
    """A clean region's snapshots must stay young: under an absolute bound, and (with a
    baseline) no older than `staleness_ratio` times the baseline's, both raised to a floor.

    The ratio catches what a generous absolute bound misses: a shared refresh loop that
    a slow target holds up ages every region's cache a little, on every cycle.
    """
    name, bound_s = "staleness_p95_s", bounds.staleness_p95_s
    age_s = stats.staleness_p95_s
    if age_s is None:
        detail = f"no STALENESS rows in {_words(phase)}: the responses reported no snapshot age"
        return Check(name, CONTAINMENT, bound_s, None, _missing(phased), detail)
    if age_s > bound_s:
        detail = f"{_words(phase)}: staleness p95 {age_s:g} s > {bound_s:g} s"
        return Check(name, CONTAINMENT, bound_s, age_s, "fail", detail)
    detail = f"{_words(phase)}: staleness p95 {age_s:g} s <= {bound_s:g} s"
    if baseline is None or baseline.staleness_p95_s is None:
        return Check(name, CONTAINMENT, bound_s, age_s, "pass", detail)
    floor_s, limit = bounds.staleness_ratio_floor_s, bounds.staleness_ratio
    ratio = max(age_s, floor_s) / max(baseline.staleness_p95_s, floor_s)
    passed = ratio <= limit
    detail += (
        f", {ratio:.2f} {'<=' if passed else '>'} {limit:g} times the baseline's "
        f"{baseline.staleness_p95_s:g} s (each at least {floor_s:g} s)"
    )
    return Check(name, CONTAINMENT, bound_s, age_s, _status(passed), detail)


def dishonest_check(facts: RegionFacts) -> Check:
    """Honesty is absolute: a single partial or garbage response in any phase fails it."""
    whole = facts.phase(WHOLE_RUN)
    count = whole.dishonest
    if whole.requests == 0:
        detail = "no responses at all: nothing shows the region answers honestly"
        return Check("dishonest_responses", HONESTY, 0, 0, "inconclusive", detail)
    # In the order the phases ran, whatever order the files listed them in.
    per_phase = [
        f"{name} {facts.phases[name].dishonest}"
        for name in PHASES
        if name in facts.phases and facts.phases[name].dishonest
    ]
    detail = f"{count} dishonest response" + ("" if count == 1 else "s")
    if per_phase:
        detail += f" ({', '.join(per_phase)})"
    if whole.dishonest_messages:
        first, *others = whole.dishonest_messages
        detail += f": {first}" + (f"; and {len(others)} other messages" if others else "")
    return Check("dishonest_responses", HONESTY, 0, count, _status(count == 0), detail)


def cache_check(facts: RegionFacts, prop: str) -> Check:
    """The cache after the fault window and at the end must be whole for its generation.

    Comparing with the truth of the cached generation, not the newest one, is what lets
    stale-but-complete pass and partial fail. Where the truth is unknown (an external
    stack), a clean region's cache must instead be unchanged from the fault window's start
    to its end (the origin write-up's rule); a target's is then judged by its responses.
    """
    views = [facts.cache(label) for label in JUDGED_SNAPSHOTS]
    judged = [view for view in views if view.skipped is None]
    if not judged:
        if facts.caches and all(view.skipped for view in facts.caches.values()):
            return Check("cache", prop, 0, None, "skipped", views[-1].skipped or "no snapshots")
        detail = "no fault_end or end snapshot: the storm took none"
        return Check("cache", prop, 0, None, "inconclusive", detail)
    reference = _reference(facts) if prop == CONTAINMENT else None
    outcomes = [_cache_outcome(view, reference, view is judged[0]) for view in judged]
    bad = [text for ok, text in outcomes if ok is False]
    detail = "; ".join(text for _, text in outcomes)
    if all(ok is None for ok, _ in outcomes):
        status: Status = "inconclusive" if prop == CONTAINMENT else "skipped"
        return Check("cache", prop, 0, None, status, detail)
    return Check("cache", prop, 0, len(bad), _status(not bad), detail)


def _reference(facts: RegionFacts) -> CacheView | None:
    for label in ("fault_start", "start"):
        view = facts.caches.get(label)
        if view is not None and view.state is not None:
            return view
    return None


def _cache_outcome(
    view: CacheView, reference: CacheView | None, closes_window: bool
) -> tuple[bool | None, str]:
    """(whole?, words); None when there is nothing to compare the snapshot with."""
    state = view.state
    if state is None:
        return False, f"{view.label}: region absent, cache lost"
    where = f"generation {state.generation}"
    if state.truth_digest is not None:
        if state.digest == state.truth_digest:
            return True, f"{view.label}: whole, {where} ({state.rows} rows)"
        return False, (
            f"{view.label}: cached {state.rows} rows, not the truth of {where} "
            f"({state.truth_rows} rows; digest {_short(state.digest)} != "
            f"{_short(state.truth_digest)})"
        )
    # After the window closes a clean cache may follow its upstream again.
    if reference is None or reference.state is None or not closes_window:
        return None, f"{view.label}: upstream truth unknown for {where}"
    if state.digest == reference.state.digest:
        return True, f"{view.label}: unchanged since {reference.label} (truth unknown)"
    return False, (
        f"{view.label}: changed since {reference.label} ({_short(reference.state.digest)} -> "
        f"{_short(state.digest)}) and the truth is unknown"
    )


def ledger_check(facts: RegionFacts) -> Check:
    """A fault recorded for a clean region means the harness itself leaked."""
    count = facts.faults_injected
    if count is None:
        return Check("ledger_rows", CONTAINMENT, 0, None, "skipped", "no ledger: no fault proxy")
    if count:
        detail = f"{count} faults injected into a clean region ({_kinds(facts)}): harness leaked"
        return Check("ledger_rows", CONTAINMENT, 0, count, "fail", detail)
    if facts.unattributed_faults:
        named = ", ".join(f"{region!r} {n}" for region, n in facts.unattributed_faults.items())
        detail = f"ledger rows name no known region ({named}): a leak cannot be ruled out"
        return Check("ledger_rows", CONTAINMENT, 0, None, "inconclusive", detail)
    return Check("ledger_rows", CONTAINMENT, 0, 0, "pass", "0 faults injected")


def ingest_deadline_check(facts: RegionFacts, bounds: TargetThresholds) -> Check:
    """A fault that holds the connection must be cut off by the ingest's own deadline."""
    name, bound = "ingest_deadline_ms", bounds.ingest_deadline_ms
    if facts.faults_injected is None:
        return Check(name, BOUNDED_LATENCY, bound, None, "skipped", "no ledger: no fault proxy")
    holds = {
        kind: hold_ms
        for kind, hold_ms in facts.fault_hold_ms.items()
        if kind in bounds.deadline_kinds
    }
    if not holds:
        detail = f"no {' or '.join(bounds.deadline_kinds)} fault in the ledger"
        return Check(name, BOUNDED_LATENCY, bound, None, "skipped", detail)
    timed = {kind: hold_ms for kind, hold_ms in holds.items() if hold_ms is not None}
    if not timed:
        detail = f"{' and '.join(holds)} rows carry no connected_ms: no hold time to judge"
        return Check(name, BOUNDED_LATENCY, bound, None, "inconclusive", detail)
    kind = max(timed, key=lambda known: timed[known])
    longest = timed[kind]
    passed = longest <= bound
    sign = "<=" if passed else ">"
    detail = f"longest ingest attempt under {kind}: {longest:g} ms {sign} {bound:g} ms"
    return Check(name, BOUNDED_LATENCY, bound, longest, _status(passed), detail)


def upstream_pressure_check(facts: RegionFacts, bounds: TargetThresholds) -> Check:
    """A failing upstream must not be asked more often than the healthy ones.

    Immediate retries, and a breaker that closes before the upstream is well, show up as
    more requests to the target's upstream during the fault window than the clean
    regions' upstreams get in the same window.
    """
    name, bound = "upstream_pressure", bounds.upstream_pressure_ratio
    asked, clean = facts.upstream_requests, facts.clean_upstream_requests
    if asked is None or clean is None:
        detail = "no request counts from the fault proxy in the snapshots"
        return Check(name, BACKOFF, bound, None, "skipped", detail)
    if clean < bounds.upstream_pressure_min_requests:
        detail = (
            f"clean upstreams asked {clean:g} times (median) in the fault window "
            f"< {bounds.upstream_pressure_min_requests}: too few to compare with"
        )
        return Check(name, BACKOFF, bound, None, "skipped", detail)
    ratio = asked / clean
    passed = ratio <= bound
    detail = (
        f"fault window: target upstream asked {asked} times, clean median {clean:g}: "
        f"{ratio:.2f} {'<=' if passed else '>'} {bound:g}"
    )
    return Check(name, BACKOFF, bound, round(ratio, 3), _status(passed), detail)


def false_recovery_check(facts: RegionFacts, bounds: TargetThresholds) -> Check:
    """One good answer after an outage must not restore full trust in the upstream.

    false_recovery serves the first request after a quiet spell and fails the rest. A
    client whose breaker stays half-open until several answers in a row are good reopens
    at the first failure that follows; one that closes on the first good answer goes back
    to its normal pace and fails trip_after times before it trips again. The counts are
    the region's, so one client at a time is assumed to ask for it, as a refresh loop does.
    """
    name, bound = "false_recovery_failures", bounds.false_recovery_failures
    seen = facts.false_recoveries
    if seen is None:
        detail = "no false_recovery fault in the ledger"
        return Check(name, BACKOFF, bound, None, "skipped", detail)
    if seen.undecided is not None:
        return Check(name, BACKOFF, bound, None, "inconclusive", f"undecided: {seen.undecided}")
    if seen.unjudgeable is not None:
        return Check(name, BACKOFF, bound, None, "skipped", f"not judged: {seen.unjudgeable}")
    if not seen.closed and not seen.cut_short:
        detail = (
            "false_recovery served no request: the client was never quiet for quiet_ms "
            "(set it between the client's request interval and its breaker's cool-down)"
        )
        return Check(name, BACKOFF, bound, None, "skipped", detail)
    # A count cut short by the window's end or a new profile counts once it is over the bound.
    judged = [*seen.closed, *(count for count in seen.cut_short if count > bound)]
    if not judged:
        only = len(seen.cut_short) == 1
        most = seen.cut_short[0] if only else bound
        detail = (
            f"{_good_answers(len(seen.cut_short), only=True)} was followed by "
            f"{'' if only else 'at most '}{most:g} failure{'' if most == 1 else 's'} "
            "before the fault window ended or the "
            "profile changed: too soon to see the client back off; lengthen --fault-window"
        )
        return Check(name, BACKOFF, bound, None, "skipped", detail)
    median = float(statistics.median(judged))
    passed = median <= bound
    counts = ", ".join(str(count) for count in judged[:MAX_LISTED])
    more = ", ..." if len(judged) > MAX_LISTED else ""
    sign = "<=" if passed else ">"
    detail = (
        f"failing requests in a row after {_good_answers(len(judged))}: {counts}{more}; "
        f"median {median:g} {sign} {bound:g}"
    )
    if not passed:
        detail += ": one good answer restored the client's trust"
    return Check(name, BACKOFF, bound, median, _status(passed), detail)


def _good_answers(count: int, only: bool = False) -> str:
    if count == 1:
        return "the only good answer" if only else "the good answer"
    return f"each of {count} good answers"


def recovery_check(facts: RegionFacts, bound_s: float) -> Check:
    """After the faults stop, the target's cache must be whole and current within bound_s."""
    name = "recovery_s"
    recovery = facts.recovery
    if recovery is None:
        detail = facts.recovery_skipped or "no recovery record"
        return Check(name, IDEMPOTENT_RECOVERY, bound_s, None, "skipped", detail)
    after_s = recovery.recovered_after_s
    if after_s is None and recovery.recovered_at is not None and recovery.fault_end is not None:
        after_s = recovery.recovered_at - recovery.fault_end
    if after_s is not None:
        passed = after_s <= bound_s
        sign = "<=" if passed else ">"
        detail = f"healed {after_s:.1f} s after the faults stopped {sign} {bound_s:g} s"
        return Check(name, IDEMPOTENT_RECOVERY, bound_s, round(after_s, 3), _status(passed), detail)
    watched_s = recovery.watched_s or 0.0
    if watched_s >= bound_s:
        detail = f"not healed in the {watched_s:.1f} s watched after the faults stopped"
        return Check(name, IDEMPOTENT_RECOVERY, bound_s, None, "fail", detail)
    detail = (
        f"not healed yet, watched only {watched_s:.1f} s < {bound_s:g} s after the faults "
        "stopped: run a longer recovery phase"
    )
    return Check(name, IDEMPOTENT_RECOVERY, bound_s, None, "inconclusive", detail)


def faults_check(facts: RegionFacts, min_faults: int) -> Check:
    """Without enough faults reaching the target, a clean run proves nothing."""
    count = facts.faults_injected
    if count is None:
        detail = "no ledger: no fault is known to have reached the target"
        status: Status = "pass" if min_faults == 0 else "inconclusive"
        return Check("faults_injected", EVIDENCE, min_faults, None, status, detail)
    if count < min_faults:
        detail = f"{count} faults injected < {min_faults}: the run proves nothing{_outside(facts)}"
        return Check("faults_injected", EVIDENCE, min_faults, count, "inconclusive", detail)
    detail = f"{count} faults injected >= {min_faults}"
    if facts.fault_kinds:
        detail += f" ({_kinds(facts)})"
    return Check("faults_injected", EVIDENCE, min_faults, count, "pass", detail + _outside(facts))


def _outside(facts: RegionFacts) -> str:
    if not facts.faults_outside_window:
        return ""
    return f"; {facts.faults_outside_window} more outside the fault window, not counted"


def _words(phase: str) -> str:
    return "whole run" if phase == WHOLE_RUN else phase


def _missing(phased: bool) -> Status:
    """A storm always measures it: missing there is undecided, elsewhere never measured."""
    return "inconclusive" if phased else "skipped"


def _status(passed: bool) -> Status:
    return "pass" if passed else "fail"


def _rate_of(stats: PhaseStats) -> str:
    if stats.requests == 0:
        return "no requests"
    rate = stats.success_rate or 0.0
    return f"{rate:.2%} of {stats.requests} ({stats.failures} failed)"


def _kinds(facts: RegionFacts) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in facts.fault_kinds.items())


def _short(digest: str | None) -> str:
    return "none" if digest is None else digest[:12]
