"""Marks when a storm's Locust process reached each step of its start, for the bench.

bench/startup_bench.py adds this file to the storm's locustfile (`-f
locustfile.py,bench/locustfiles/startup_probe.py`); it defines no user and changes
nothing. `imported` is when Locust had imported the storm's locustfile and this one;
the listeners run after the storm's own, so `init` is when the storm's stack
was up and every region cached, `test_start` when the users began to spawn, and
`first_request` when Locust recorded the first response to a region user. The
wall-clock times go as JSON to the file named by BLAST_RADIUS_STARTUP_MARKS.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events

STALENESS = "STALENESS"
_marks: dict[str, float] = {}


def _mark(step: str) -> None:
    path = os.environ.get("BLAST_RADIUS_STARTUP_MARKS")
    if path and step not in _marks:
        _marks[step] = time.time()
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(_marks, handle)


_mark("imported")


def _init(**_: Any) -> None:
    _mark("init")


def _test_start(**_: Any) -> None:
    _mark("test_start")


def _request(request_type: str, **_: Any) -> None:
    if request_type != STALENESS and "first_request" not in _marks:
        _mark("first_request")


# Locust's EventHook.add_listener carries no annotations.
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.request.add_listener(_request)  # type: ignore[no-untyped-call]
