"""The upstream simulator: seeded per-region catalogs that change every generation.

`GET /catalog` serves a region's current generation as JSON or NDJSON with honest
framing, `Last-Modified` at the generation's start and 304 for a client already holding
it. `GET /truth` gives the digest of any generation, so a storm can tell whether a cache
holds exactly what the upstream published.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass

from aiohttp import web

from common.regions import REGIONS, RegionError, parse_region
from discovery.catalog import build_catalog, catalog_digest
from discovery.errors import UsageError
from discovery.httpdate import format_http_date, parse_http_date
from discovery.runtime import Listen, check_listen, serve_until_stopped

MIN_GENERATION_S = 1.0
NDJSON = "application/x-ndjson"
# ASCII digits only: str.isdigit() also accepts "²", which int() then refuses. Twelve
# digits outlast any run; more would only make the catalog's seeds long strings.
GENERATION = re.compile(r"[0-9]{1,12}")
MAX_SHOWN_CHARS = 40


@dataclass(frozen=True)
class UpstreamOptions:
    """Options of `python -m discovery upstream`."""

    listen: Listen
    seed: int = 1
    generation_s: float = 10.0


@dataclass(frozen=True)
class Clock:
    """Maps wall time onto generations that start every `generation_s` from `started_at`."""

    started_at: float
    generation_s: float

    def generation(self, now_s: float) -> int:
        """Return the generation current at `now_s` (0 before the clock started)."""
        return max(0, math.floor((now_s - self.started_at) / self.generation_s))

    def generation_start(self, generation: int) -> float:
        """Return the epoch seconds at which `generation` started."""
        return self.started_at + generation * self.generation_s


SEED = web.AppKey("seed", int)
CLOCK = web.AppKey("clock", Clock)


def check_options(options: UpstreamOptions) -> None:
    """Raise UsageError for options the simulator cannot honour."""
    check_listen(options.listen)
    if options.generation_s < MIN_GENERATION_S:
        # HTTP dates carry whole seconds: two generations inside one second would share a
        # Last-Modified, and a conditional GET would hide the newer one.
        raise UsageError(
            f"--generation-s {options.generation_s:g}: below {MIN_GENERATION_S:g} s, "
            "generations would share a Last-Modified second; use 1 or more"
        )


def create_app(seed: int, clock: Clock) -> web.Application:
    """Return the simulator's aiohttp application."""
    app = web.Application()
    app[SEED] = seed
    app[CLOCK] = clock
    app.router.add_get("/catalog", handle_catalog)
    app.router.add_get("/truth", handle_truth)
    app.router.add_get("/health", handle_health)
    return app


async def run_upstream(options: UpstreamOptions) -> None:
    """Serve the simulator until stopped; generation 0 starts now."""
    check_options(options)
    clock = Clock(started_at=time.time(), generation_s=options.generation_s)
    await serve_until_stopped(create_app(options.seed, clock), options.listen)


def shown(text: str) -> str:
    """Request text as an error message quotes it: repr, cut to MAX_SHOWN_CHARS."""
    quoted = repr(text)
    return quoted if len(quoted) <= MAX_SHOWN_CHARS else quoted[: MAX_SHOWN_CHARS - 3] + "..."


def error_response(status: int, message: str) -> web.Response:
    """Return a JSON error body `{"error": message}` with `status`."""
    return web.json_response({"error": message}, status=status)


def request_region(request: web.Request) -> str:
    """Return the request's region (header X-Region, else query `region`) or raise HTTP 4xx."""
    text = request.headers.get("X-Region") or request.query.get("region")
    if not text:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "region missing: send X-Region or ?region="}),
            content_type="application/json",
        )
    try:
        return parse_region(text)
    except RegionError as exc:
        raise web.HTTPNotFound(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from exc


async def handle_catalog(request: web.Request) -> web.Response:
    """GET /catalog: the region's current generation, or 304 when the client has it."""
    region = request_region(request)
    body_format = request.query.get("format", "json")
    if body_format not in ("json", "ndjson"):
        return error_response(400, f"format {shown(body_format)} unknown: use json or ndjson")

    clock = request.app[CLOCK]
    generation = clock.generation(time.time())
    last_modified = math.floor(clock.generation_start(generation))
    headers = {"Last-Modified": format_http_date(last_modified), "X-Generation": str(generation)}
    since = parse_http_date(request.headers.get("If-Modified-Since"))
    if since is not None and since >= last_modified:
        return web.Response(status=304, headers=headers)

    items = build_catalog(request.app[SEED], region, generation)
    headers["X-Item-Count"] = str(len(items))
    if body_format == "ndjson":
        lines = "".join(json.dumps(item) + "\n" for item in items)
        return web.Response(body=lines.encode("utf-8"), content_type=NDJSON, headers=headers)
    document = {"region": region, "generation": generation, "item_count": len(items)}
    return web.json_response({**document, "items": items}, headers=headers)


async def handle_truth(request: web.Request) -> web.Response:
    """GET /truth[?region=DE][&generation=7]: digests of what the upstream published."""
    clock = request.app[CLOCK]
    now = time.time()
    text = request.query.get("generation")
    if text is None:
        generation = clock.generation(now)
    elif GENERATION.fullmatch(text):
        generation = int(text)
    else:
        return error_response(
            400, f"generation {shown(text)} is not a whole number of 1 to 12 digits 0-9"
        )

    seed = request.app[SEED]
    if "region" in request.query or "X-Region" in request.headers:
        return web.json_response(truth(seed, request_region(request), generation))
    regions = {region: truth(seed, region, generation) for region in REGIONS}
    return web.json_response({"taken_at": now, "generation": generation, "regions": regions})


def truth(seed: int, region: str, generation: int) -> dict[str, object]:
    """Return `{"region", "generation", "item_count", "digest"}` of one published catalog."""
    items = build_catalog(seed, region, generation)
    return {
        "region": region,
        "generation": generation,
        "item_count": len(items),
        "digest": catalog_digest(items),
    }


async def handle_health(request: web.Request) -> web.Response:
    """GET /health."""
    return web.json_response({"ok": True})
