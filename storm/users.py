"""The region users: each reads /discover for its region and checks every response.

Request names carry the region and the phase (`/discover [DE] fault`), so Locust's own
statistics are per region and per phase. Each response's snapshot age is reported as a
request of type STALENESS named after the region and phase (`DE fault`), so freshness
lands in Locust's CSVs beside latency.
"""

from __future__ import annotations

import random
from urllib.parse import urlencode

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

from common import REGIONS
from storm.checks import Shape, check_discover, parse_body
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
        self.path = str(getattr(options, "read_path", "/discover"))
        self.region_param = str(getattr(options, "region_param", "region"))
        self.region_header = str(getattr(options, "region_header", ""))
        self.search_param = str(getattr(options, "search_param", "q"))
        self.min_items = int(getattr(options, "min_items", self.min_items))
        self.shape = Shape(
            items_key=str(getattr(options, "items_key", "items")),
            id_key=str(getattr(options, "id_key", "id")),
            age_key=str(getattr(options, "age_key", "age_s")),
        )
        self.headers = {self.region_header: self.region} if self.region_header else {}

    def _url(self, **query: str) -> str:
        if self.region_param and not self.region_header:
            query = {self.region_param: self.region, **query}
        return f"{self.path}?{urlencode(query)}" if query else self.path

    @task(3)
    def discover(self) -> None:
        phase = board.current
        self._read(self._url(), f"{self.path} [{self.region}] {phase}", phase, False)

    @task(1)
    def search(self) -> None:
        if not self.search_param:
            return self.discover()
        phase = board.current
        url = self._url(**{self.search_param: random.choice(SEARCH_WORDS)})
        name = f"{self.path}?{self.search_param} [{self.region}] {phase}"
        self._read(url, name, phase, True)
        return None

    def _read(self, url: str, name: str, phase: str, searched: bool) -> None:
        headers = self.headers or None
        with self.client.get(url, name=name, catch_response=True, headers=headers) as resp:
            payload = None
            if resp.status_code == 200:
                try:
                    payload = parse_body(resp.content or b"")
                except ValueError:
                    resp.failure("dishonest: body is not JSON")
                    return
            outcome = check_discover(
                resp.status_code or 0,
                payload,
                self.region,
                self.min_items,
                searched,
                shape=self.shape,
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
