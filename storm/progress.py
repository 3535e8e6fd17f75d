"""Progress of a headless storm: phase, time, and a running verdict per region.

One line every PROGRESS_INTERVAL_S seconds on its own logger (`blast_radius.progress`),
short enough to sit between Locust's own lines. The running verdict is a live hint read
from Locust's statistics of the current phase; the verdict that counts is computed from
the CSVs at the end.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from typing import Any

import gevent

from common import REGIONS

log = logging.getLogger("blast_radius.progress")

PROGRESS_INTERVAL_S = 10.0
NAME = re.compile(r"\[(?P<region>[A-Z]{2})\] (?P<phase>\w+)$")
CLEAN_MIN_SUCCESS = 0.995


def region_marks(stats: Any, phase: str, target: str) -> str:
    """`US ok · DE target ok · JP 98.9%!`: each region's state in the current phase."""
    requests: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for entry in stats.entries.values():
        match = NAME.search(entry.name)
        if match and match["phase"] == phase:
            requests[match["region"]] += entry.num_requests
            failures[match["region"]] += entry.num_failures
    dishonest: Counter[str] = Counter()
    for error in stats.errors.values():
        match = NAME.search(error.name)
        if match and match["phase"] == phase and "dishonest" in str(error.error):
            dishonest[match["region"]] += error.occurrences
    return " · ".join(
        mark(region, region == target, requests[region], failures[region], dishonest[region])
        for region in REGIONS
    )


def mark(region: str, is_target: bool, requests: int, failures: int, dishonest: int) -> str:
    role = f"{region} target" if is_target else region
    if dishonest:
        return f"{role} {dishonest} dishonest!"
    if not requests:
        return f"{role} -"
    success = 1 - failures / requests
    if not is_target and success < CLEAN_MIN_SUCCESS:
        return f"{role} {success:.1%}!"
    return f"{role} ok"


def report_every(storm: Any, interval_s: float = PROGRESS_INTERVAL_S) -> None:
    """Log one progress line per interval until the greenlet is killed."""
    total_s = storm.settings.plan.total_s
    while True:
        gevent.sleep(interval_s)
        if not storm.phases:
            continue
        phase = storm.phases[-1]
        now = time.time()
        in_phase = now - phase["start"]
        length = dict(storm.settings.plan.steps())[phase["name"]]
        elapsed = now - storm.phases[0]["start"]
        marks = region_marks(storm.environment.stats, phase["name"], storm.settings.target)
        log.info(
            "%s %.0f/%.0f s, %.0f s left | %s",
            phase["name"],
            in_phase,
            length,
            max(0.0, total_s - elapsed),
            marks,
        )
