"""The region users: each reads /discover for its region and checks every response.

Request names carry the region and the phase (`/discover [DE] fault`), so Locust's own
statistics are per region and per phase. Each response's snapshot age is reported as a
request of type STALENESS named after the region and phase (`DE fault`), so freshness
lands in Locust's CSVs beside latency.
"""

from __future__ import annotations

import json
import random

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from common import REGIONS
from storm.checks import check_discover
from storm.phases import board

SEARCH_WORDS = ("drama", "comedy", "live", "music", "travel", "science", "cooking", "sport")
STALENESS = "STALENESS"


class RegionUser(FastHttpUser):
    """Reads one region's discovery results; subclasses set `region`."""

    abstract = True
    region = ""
    min_items = 50
    wait_time = between(0.01, 0.05)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        if options is not None:
            self.min_items = int(getattr(options, "min_items", self.min_items))

    @task(3)
    def discover(self) -> None:
        phase = board.current
        name = f"/discover [{self.region}] {phase}"
        self._read(f"/discover?region={self.region}", name, phase, False)

    @task(1)
    def search(self) -> None:
        phase = board.current
        url = f"/discover?region={self.region}&q={random.choice(SEARCH_WORDS)}"
        self._read(url, f"/discover?q [{self.region}] {phase}", phase, True)

    def _read(self, url: str, name: str, phase: str, searched: bool) -> None:
        with self.client.get(url, name=name, catch_response=True) as resp:
            payload = None
            if resp.status_code == 200:
                try:
                    payload = json.loads(resp.content or b"")
                except ValueError:
                    resp.failure("dishonest: body is not JSON")
                    return
            outcome = check_discover(
                resp.status_code or 0, payload, self.region, self.min_items, searched
            )
            if outcome.problem is not None:
                resp.failure(outcome.problem)
            else:
                resp.success()
        if outcome.age_s is not None:
            self.environment.events.request.fire(
                request_type=STALENESS,
                name=f"{self.region} {phase}",
                response_time=outcome.age_s * 1000.0,
                response_length=0,
                exception=None,
                context={},
            )


def region_user_classes() -> dict[str, type[RegionUser]]:
    """One user class per region, named after it (`DEUser`), as Locust lists them."""
    return {
        f"{region}User": type(f"{region}User", (RegionUser,), {"region": region})
        for region in REGIONS
    }
