"""A bare FastHttpUser on the same endpoint and mix as the storm's region users.

Three reads of a region's /discover for one search, as storm.users does, with one
request name per region and kind, but no parsing, no honesty check and no staleness
report.
"""

from __future__ import annotations

import itertools
import random

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

from common import REGIONS
from storm.users import SEARCH_WORDS

# Users take the regions in turn, as the storm's one class per region does.
_turns = itertools.cycle(REGIONS)


class BareUser(FastHttpUser):
    """Reads one region's /discover (the users take the regions in turn), keeps nothing."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.region = next(_turns)

    @task(3)
    def discover(self) -> None:
        self.client.get(f"/discover?region={self.region}", name=f"/discover [{self.region}]")

    @task(1)
    def search(self) -> None:
        word = random.choice(SEARCH_WORDS)
        name = f"/discover?q [{self.region}]"
        self.client.get(f"/discover?region={self.region}&q={word}", name=name)
