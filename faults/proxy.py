"""The lying reverse proxy: forward each request, or inject the fault the dice draw for it.

Requests under /__faults/ are the control API (faults.control) and never travel
upstream. Every other request is forwarded to the one configured upstream unless its
region (X-Region, else the `region` query parameter) is in the profile and its draw says
otherwise; then the drawn kind answers it, and the fault goes to the ledger, the
counters and the log. The counters are also summarized in one INFO line at most every
`summary_interval_s` while they change (and by faults.cli once more at shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web

from common.regions import RegionError, parse_region
from faults.dice import Decision, Dice
from faults.errors import UpstreamError
from faults.kinds.base import FaultContext, Outcome, wire_outcome
from faults.ledger import Ledger, LedgerRow, sanitized_path
from faults.profile import Profile
from faults.upstream import Upstream, bad_gateway, relay
from faults.wire import ClientGoneError, DetachedResponse

log = logging.getLogger(__name__)

DEFAULT_SUMMARY_INTERVAL_S = 10.0
# How long in-flight requests may finish on their own at shutdown.
SHUTDOWN_GRACE_S = 1.0
# The ledger's kind for a profile change; it is a record of control, not a fault.
PROFILE_KIND = "profile"
CONTROL_PREFIX = "/__faults/"
# How long a cancelled request may take to reset its connection and write its ledger row.
ABORT_WAIT_S = 0.5


def region_of(request: web.BaseRequest) -> str | None:
    """The request's region, or None when it names no known region."""
    text = request.headers.get("X-Region") or request.rel_url.query.get("region")
    if not text:
        return None
    try:
        return parse_region(text)
    except RegionError:
        return None


class FaultProxy:
    """The proxy's state: upstream, installed profile with its dice, ledger and counters."""

    def __init__(self, upstream: Upstream, profile: Profile, seed: int, ledger: Ledger) -> None:
        self.upstream = upstream
        self.seed = seed
        self.ledger = ledger
        self.dice = Dice(profile, seed)
        self.counters: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # Every request per region, lied to or not: how hard each region's upstream is asked.
        self.requests: Counter[str] = Counter()
        # When each region's last request was answered (monotonic), since the profile was
        # installed or the counters reset, and its requests in progress: how long a region
        # has been quiet is part of what a kind sees.
        self._answered_s: dict[str, float] = {}
        self._asking: Counter[str] = Counter()
        self._since_s = time.monotonic()
        self.in_flight = 0
        # The task serving each request in progress, and a future resolved when it is done:
        # aiohttp's task outlives the request on a kept-alive connection.
        self._requests: dict[asyncio.Future[None], asyncio.Task[Any]] = {}

    def install(self, profile: Profile) -> None:
        """Swap in a new profile; its regions' draw sequences start afresh."""
        self.dice = Dice(profile, self.seed)
        self._forget_quiet()
        self._record_profile(profile)
        log.info("profile installed (seed %d): %s", self.seed, profile.summary())

    def _forget_quiet(self) -> None:
        self._answered_s.clear()
        self._since_s = time.monotonic()

    @contextlib.contextmanager
    def _asked(self, region: str | None) -> Iterator[float]:
        """Seconds `region` has been quiet: since its previous request was answered (or the
        install), 0 while another of its requests is in progress. Its request is in
        progress inside the block."""
        if region is None:
            yield 0.0
            return
        now_s = time.monotonic()
        busy = self._asking[region] > 0
        quiet_s = 0.0 if busy else now_s - self._answered_s.get(region, self._since_s)
        self._asking[region] += 1
        try:
            yield quiet_s
        finally:
            self._asking[region] -= 1
            self._answered_s[region] = time.monotonic()

    def record_start(self) -> None:
        """Record the profile given at start, as an install would: the ledger alone then
        tells when each region's lies began. Nothing is recorded when it names no region."""
        if self.dice.profile.regions:
            self._record_profile(self.dice.profile, ("", "--profile"))

    def _record_profile(
        self, profile: Profile, call: tuple[str, str] = ("PUT", f"{CONTROL_PREFIX}profile")
    ) -> None:
        """Record the change in the ledger as rows of kind `profile`, one per region the
        new profile names (region empty when it names none: faults off), so the ledger
        alone tells when each region's lies began and ended. `call` (method, path) is what
        made it: a PUT of the profile, a POST of reset, which restarts it, or the start."""
        now = time.time()
        specs = {region: faults.as_json() for region, faults in profile.regions.items()}
        for region, spec in (specs or {"": {}}).items():
            self.ledger.record(
                LedgerRow(
                    time=now,
                    region=region,
                    kind=PROFILE_KIND,
                    method=call[0],
                    path=call[1],
                    status=200,
                    bytes_promised=None,
                    bytes_written=0,
                    end="complete",
                    connected_ms=0.0,
                    params=spec,
                    connection="reusable",
                )
            )

    def reset(self) -> None:
        """Zero the counters and restart every region's draws and quiet spells, as an
        install does; the ledger keeps its rows and records the profile again."""
        self.counters.clear()
        self.requests.clear()
        self.dice = Dice(self.dice.profile, self.seed)
        self._forget_quiet()
        self._record_profile(self.dice.profile, ("POST", f"{CONTROL_PREFIX}reset"))
        log.info("counters and draws reset (seed %d)", self.seed)

    def summary(self) -> str:
        """The counters in one line: `DE slowloris=3 truncate=5; FR flap=2; in flight 1`."""
        regions = [
            f"{region} " + " ".join(f"{kind}={count}" for kind, count in sorted(kinds.items()))
            for region, kinds in sorted(self.counters.items())
        ]
        return "; ".join([*regions, f"in flight {self.in_flight}"])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Forward `request`, or let the drawn fault answer it."""
        arrived_s = time.time()
        region = region_of(request)
        decision = self.dice.draw(region)
        if region is not None:
            self.requests[region] += 1
        with self._tracked(), self._asked(region) as quiet_s:
            if region is None or decision is None:
                return await self._forward(request)
            self.in_flight += 1
            try:
                return await self._inject(request, region, decision, arrived_s, quiet_s)
            finally:
                self.in_flight -= 1

    @contextlib.contextmanager
    def _tracked(self) -> Iterator[None]:
        task = asyncio.current_task()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if task is not None:
            self._requests[done] = task
        try:
            yield
        finally:
            self._requests.pop(done, None)
            done.set_result(None)

    async def abort_in_flight(self, grace_s: float, abort_wait_s: float = ABORT_WAIT_S) -> None:
        """Give the requests in progress `grace_s` to finish, then cancel the rest.

        A cancelled fault resets its connection and records its ledger row with end
        `aborted` (see _inject), so every lie told is in the ledger before it closes.
        """
        if not self._requests:
            return
        log.info("waiting up to %.1f s for %d requests in progress", grace_s, len(self._requests))
        _, pending = await asyncio.wait(list(self._requests), timeout=grace_s)
        if not pending:
            return
        for done in pending:
            task = self._requests.get(done)
            if task is not None:
                task.cancel()
        await asyncio.wait(pending, timeout=abort_wait_s)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        try:
            return relay(await self.upstream.fetch(request))
        except UpstreamError as exc:
            return bad_gateway(exc)

    async def _inject(
        self,
        request: web.Request,
        region: str,
        decision: Decision,
        arrived_s: float,
        quiet_s: float,
    ) -> web.StreamResponse:
        fetch = functools.partial(self.upstream.fetch, request, decision.kind.needs_body)
        context = FaultContext(request, region, decision.occurrence, fetch, quiet_s)
        try:
            outcome = await decision.kind.inject(context, decision.params)
            if outcome is None:
                return relay(await context.upstream())
        except UpstreamError as exc:
            return bad_gateway(exc)
        except ClientGoneError:
            return DetachedResponse()
        except asyncio.CancelledError:
            wire = context.drop_connection()
            if wire is not None:
                aborted = wire_outcome(wire, "aborted")
                self._record(request, region, decision, aborted, arrived_s)
            raise
        self._record(request, region, decision, outcome, arrived_s)
        return outcome.response

    def _record(
        self,
        request: web.Request,
        region: str,
        decision: Decision,
        outcome: Outcome,
        arrived_s: float,
    ) -> None:
        row = LedgerRow(
            time=arrived_s,
            region=region,
            kind=decision.kind.name,
            method=request.method,
            path=request.rel_url.raw_path_qs,
            status=outcome.status,
            bytes_promised=outcome.bytes_promised,
            bytes_written=outcome.bytes_written,
            end=outcome.end,
            connected_ms=outcome.connected_ms,
            params=decision.params.model_dump(mode="json"),
            connection=outcome.connection,
        )
        self.ledger.record(row)
        self.counters[region][row.kind] += 1
        log.info(
            "fault region=%s kind=%s %s %s status=%d promised=%s written=%d end=%s "
            "connection=%s connected_ms=%.1f",
            region,
            row.kind,
            sanitized_path(row.method),
            sanitized_path(row.path),
            row.status,
            "-" if row.bytes_promised is None else row.bytes_promised,
            row.bytes_written,
            row.end,
            row.connection,
            row.connected_ms,
        )


async def summarize_live(proxy: FaultProxy, interval_s: float) -> None:
    """Log the counters every `interval_s` seconds, but only when they changed."""
    last = proxy.summary()
    while True:
        await asyncio.sleep(interval_s)
        current = proxy.summary()
        if current != last:
            log.info("faults so far: %s", current)
            last = current


def summary_context(proxy: FaultProxy, interval_s: float) -> functools.partial[AsyncIterator[None]]:
    """An aiohttp cleanup context running the live summary while the app serves."""
    return functools.partial(_summaries, proxy, interval_s)


async def _summaries(
    proxy: FaultProxy, interval_s: float, app: web.Application
) -> AsyncIterator[None]:
    task = asyncio.create_task(summarize_live(proxy, interval_s)) if interval_s > 0 else None
    yield
    if task is not None:
        task.cancel()
