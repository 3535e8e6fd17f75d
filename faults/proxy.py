"""The lying reverse proxy: forward each request, or inject the fault the dice draw for it.

Requests under /__faults/ are the control API and never travel upstream. Every other
request is forwarded to the one configured upstream unless its region (X-Region, else
the `region` query parameter) is in the profile and its draw says otherwise; then the
drawn kind answers it, and the fault goes to the ledger, the counters and the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter, defaultdict

from aiohttp import web

from common.regions import RegionError, parse_region
from faults.dice import Decision, Dice
from faults.errors import ProfileError, UpstreamError
from faults.kinds.base import FaultContext, Outcome
from faults.ledger import Ledger, LedgerRow, sanitized_path
from faults.profile import Profile, parse_profile
from faults.upstream import Upstream, bad_gateway, relay
from faults.wire import ClientGoneError, DetachedResponse

log = logging.getLogger(__name__)

CONTROL_PREFIX = "/__faults/"
CONTROL_PATHS = ("health", "profile", "counters")
PROXY_KEY: web.AppKey[FaultProxy] = web.AppKey("proxy")


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

    def install(self, profile: Profile) -> None:
        """Swap in a new profile; its regions' draw sequences start afresh."""
        self.dice = Dice(profile, self.seed)
        log.info("profile installed (seed %d): %s", self.seed, profile.summary())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Forward `request`, or let the drawn fault answer it."""
        arrived_s = time.time()
        region = region_of(request)
        decision = self.dice.draw(region)
        if region is None or decision is None:
            return await self._forward(request)
        return await self._inject(request, region, decision, arrived_s)

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        try:
            return relay(await self.upstream.fetch(request))
        except UpstreamError as exc:
            return bad_gateway(exc)

    async def _inject(
        self, request: web.Request, region: str, decision: Decision, arrived_s: float
    ) -> web.StreamResponse:
        fetch = functools.partial(self.upstream.fetch, request, decision.kind.needs_body)
        context = FaultContext(request, region, decision.occurrence, fetch)
        try:
            outcome = await decision.kind.inject(context, decision.params)
            if outcome is None:
                return relay(await context.upstream())
        except UpstreamError as exc:
            return bad_gateway(exc)
        except ClientGoneError:
            return DetachedResponse()
        except asyncio.CancelledError:
            context.drop_connection()
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
        )
        self.ledger.record(row)
        self.counters[region][row.kind] += 1
        log.info(
            "fault region=%s kind=%s %s %s status=%d promised=%s written=%d end=%s "
            "connected_ms=%.1f",
            region,
            row.kind,
            row.method,
            sanitized_path(row.path),
            row.status,
            "-" if row.bytes_promised is None else row.bytes_promised,
            row.bytes_written,
            row.end,
            row.connected_ms,
        )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _get_profile(request: web.Request) -> web.Response:
    return web.json_response(request.app[PROXY_KEY].dice.profile.as_json())


async def _put_profile(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    try:
        profile = parse_profile(await request.read(), f"PUT {CONTROL_PREFIX}profile")
    except ProfileError as exc:
        log.warning("profile refused: %s", exc)
        return web.Response(status=400, text=f"{exc}\n")
    proxy.install(profile)
    return web.json_response({"ok": True, "profile": profile.as_json()})


async def _get_counters(request: web.Request) -> web.Response:
    counters = request.app[PROXY_KEY].counters
    return web.json_response({region: dict(kinds) for region, kinds in counters.items()})


async def _control_fallback(request: web.Request) -> web.Response:
    # Reached by a control path with the wrong method, or an unknown control path; it
    # must answer here because the catch-all route after it would forward upstream.
    name = request.path.removeprefix(CONTROL_PREFIX)
    if name in CONTROL_PATHS:
        return web.Response(status=405, text=f"{request.method} is not allowed on {name}\n")
    known = ", ".join(CONTROL_PREFIX + path for path in CONTROL_PATHS)
    return web.Response(status=404, text=f"no control endpoint {request.path}; use {known}\n")


def build_app(proxy: FaultProxy) -> web.Application:
    """The aiohttp application: control API first, then the forwarding catch-all."""
    app = web.Application()
    app[PROXY_KEY] = proxy
    app.router.add_get(CONTROL_PREFIX + "health", _health, allow_head=False)
    app.router.add_get(CONTROL_PREFIX + "profile", _get_profile, allow_head=False)
    app.router.add_put(CONTROL_PREFIX + "profile", _put_profile)
    app.router.add_get(CONTROL_PREFIX + "counters", _get_counters, allow_head=False)
    app.router.add_route("*", "/__faults{tail:.*}", _control_fallback)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)

    async def open_upstream(app: web.Application) -> None:
        await proxy.upstream.start()

    async def close_upstream(app: web.Application) -> None:
        await proxy.upstream.close()

    app.on_startup.append(open_upstream)
    app.on_cleanup.append(close_upstream)
    return app
