"""The ingest against the real upstream simulator behind the real fault proxy.

A test puts a profile into the proxy (one kind, probability 1, region DE), runs a few
ingest refreshes in-process against a real SQLite cache prefilled with an older honest
catalog, and reads back what the cache, the breaker and the ledger say.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from discovery.breaker import Breaker, load_breaker
from discovery.catalog import build_catalog
from discovery.ingest import HardenedIngestor, IngestOutcome, IngestSettings
from discovery.store import (
    SnapshotMeta,
    Store,
    load_meta,
    open_store,
    replace_snapshot,
    snapshot_digest,
)
from tests.conftest import Service
from tests.discovery.discovery_http import get
from tests.faults.support import Proxy, only

SEED = 1
# The prefilled snapshot: a real catalog of a generation the upstream is not at yet, with
# no validator, so the first request is unconditional and the proxy has a body to lie in.
PREFILL_GENERATION = 9_000
REGIONS = ("DE", "JP")


@dataclass
class Faulty:
    """A real upstream and a real proxy in front of it."""

    upstream: Service
    proxy: Proxy

    def lie(self, kind: str, region: str = "DE", **params: Any) -> None:
        """From now on every request of `region` gets `kind` with `params`."""
        self.proxy.put_profile(only(region, kind, **params))

    def honest(self) -> None:
        self.proxy.put_profile({})

    def truth(self, region: str, generation: int) -> tuple[int, str]:
        body = get(f"{self.upstream.url}/truth?region={region}&generation={generation}").json()
        return int(body["item_count"]), str(body["digest"])

    def rows_of(self, kind: str) -> list[dict[str, str]]:
        return [row for row in self.proxy.ledger_rows() if row["kind"] == kind]


@dataclass
class Step:
    """What one refresh returned and what the cache held right after it."""

    outcome: IngestOutcome
    took_s: float
    cache: dict[str, tuple[int, str]]
    meta: SnapshotMeta | None
    breaker: Breaker


@dataclass
class Run:
    before: dict[str, tuple[int, str]]
    steps: list[Step] = field(default_factory=list)

    @property
    def outcome(self) -> IngestOutcome:
        return self.steps[-1].outcome

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def reasons(self) -> list[str]:
        return [step.outcome.reason for step in self.steps]


def settings_for(url: str, **limits: Any) -> IngestSettings:
    """Settings for quick tests: a short deadline and cooldown unless the test says."""
    values: dict[str, Any] = {"deadline_s": 2.0, "cooldown_s": 1.0, "max_cooldown_s": 3.0}
    values.update(limits)
    return IngestSettings(upstream_url=url, **values)


def run_ingest(
    tmp_path: Path,
    url: str,
    refreshes: int = 1,
    *,
    bugs: Iterable[str] = (),
    pause_s: float = 0.0,
    between: Any = None,
    **limits: Any,
) -> Run:
    """Prefill DE and JP, refresh DE `refreshes` times through `url`, report each step.

    `between(number)`, when given, runs before refresh `number` (from 1) after the pause.
    """
    plan = Plan(refreshes, frozenset(bugs), pause_s, between)
    return asyncio.run(_run(tmp_path, url, plan, limits))


@dataclass(frozen=True)
class Plan:
    refreshes: int
    bugs: frozenset[str]
    pause_s: float
    between: Any


async def _run(tmp_path: Path, url: str, plan: Plan, limits: dict[str, Any]) -> Run:
    refreshes, bugs, pause_s, between = plan.refreshes, plan.bugs, plan.pause_s, plan.between
    store = open_store(tmp_path / f"cache-{time.monotonic_ns()}.db")
    try:
        await prefill(store)
        run = Run(before=await cache_of(store))
        ingestor = HardenedIngestor(store, settings_for(url, **limits), bugs)
        try:
            for number in range(refreshes):
                if number:
                    await asyncio.sleep(pause_s)
                    if between is not None:
                        await asyncio.to_thread(between, number)
                started = time.monotonic()
                outcome = await ingestor.refresh("DE")
                took_s = time.monotonic() - started
                meta = await store.read(lambda conn: load_meta(conn, "DE"))
                breaker = await store.read(lambda conn: load_breaker(conn, "DE"))
                run.steps.append(Step(outcome, took_s, await cache_of(store), meta, breaker))
        finally:
            await ingestor.close()
    finally:
        store.close()
    return run


async def prefill(store: Store) -> None:
    for region in REGIONS:
        items = build_catalog(SEED, region, PREFILL_GENERATION)
        await store.write(
            lambda conn, region=region, items=items: replace_snapshot(
                conn,
                region,
                items,
                generation=PREFILL_GENERATION,
                fetched_at=time.time() - 60,
                last_modified=None,
            )
        )


async def cache_of(store: Store) -> dict[str, tuple[int, str]]:
    return {r: await store.read(lambda conn, r=r: snapshot_digest(conn, r)) for r in REGIONS}
