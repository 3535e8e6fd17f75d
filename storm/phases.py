"""The storm's phases: baseline (no faults), fault (the profile is loaded), recovery.

The process that owns the stack switches phases on a timer and tells every user which
phase it is in: directly in a local run, by a Locust message to each worker in a
distributed one. Users put the phase into their request names, so Locust's own
cumulative statistics come out per region and per phase.
"""

from __future__ import annotations

from dataclasses import dataclass

from locust.util.timespan import parse_timespan

from storm.errors import StormError

BASELINE = "baseline"
FAULT = "fault"
RECOVERY = "recovery"
PHASES = (BASELINE, FAULT, RECOVERY)
MESSAGE = "blast_radius_phase"

# Shares of Locust's --run-time when a phase's length is not given: enough baseline to
# compare with, and a recovery long enough for a breaker's cool-down and two refreshes.
BASELINE_SHARE = 1 / 6
RECOVERY_SHARE = 1 / 3
DEFAULT_RUN_S = 60.0


class Board:
    """The phase the users of this process are in."""

    def __init__(self) -> None:
        self.current = BASELINE

    def set(self, phase: str) -> None:
        if phase in PHASES:
            self.current = phase


board = Board()


@dataclass(frozen=True)
class Plan:
    """How long each phase lasts, in seconds."""

    baseline_s: float
    fault_s: float
    recovery_s: float

    @property
    def total_s(self) -> float:
        return self.baseline_s + self.fault_s + self.recovery_s

    def steps(self) -> tuple[tuple[str, float], ...]:
        return ((BASELINE, self.baseline_s), (FAULT, self.fault_s), (RECOVERY, self.recovery_s))


def seconds(option: str, text: str) -> float | None:
    """Parse one phase option in Locust's time format (`20s`, `1m30s`); empty is None."""
    if not text:
        return None
    try:
        value = float(parse_timespan(text))
    except ValueError:
        raise StormError(
            f"{option} {text!r}: use Locust's time format, like 20s or 1m30s"
        ) from None
    if value <= 0:
        raise StormError(f"{option} {text!r}: use a duration above zero")
    return value


def plan(run_time_s: float | None, baseline: str, fault: str, recovery: str) -> Plan:
    """Fill in the phases not given from the run time, and check that they fit in it."""
    given = {
        BASELINE: seconds("--baseline", baseline),
        FAULT: seconds("--fault-window", fault),
        RECOVERY: seconds("--recovery", recovery),
    }
    total = run_time_s or DEFAULT_RUN_S
    base_s = given[BASELINE] or round(total * BASELINE_SHARE, 1)
    rec_s = given[RECOVERY] or round(total * RECOVERY_SHARE, 1)
    fault_s = given[FAULT] or round(total - base_s - rec_s, 1)
    result = Plan(base_s, fault_s, rec_s)
    if fault_s <= 0 or (run_time_s is not None and result.total_s > run_time_s + 0.5):
        raise StormError(
            f"phases of {base_s:g}+{fault_s:g}+{rec_s:g} s do not fit in a run time of "
            f"{total:g} s: lengthen -t or shorten --baseline/--fault-window/--recovery"
        )
    return result
