"""The real upstream simulator with per-region misbehaviour, as a child process for tests.

    python -m tests.discovery.discovery_fake_upstream --listen 0 --ready-file F
        [--hang DE] [--fail DE] [--generation-s 10]

`--hang R`: requests for R get no answer at all (the socket stays open).
`--fail R`: requests for R get 503. `GET /__counts` returns requests seen per region.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from discovery.runtime import Listen, serve_until_stopped
from discovery.upstream import Clock, create_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(hang: set[str], fail: set[str], generation_s: float) -> web.Application:
    counts: Counter[str] = Counter()

    @web.middleware
    async def misbehave(request: web.Request, handler: Handler) -> web.StreamResponse:
        region = (request.headers.get("X-Region") or request.query.get("region", "")).upper()
        if request.path == "/catalog":
            counts[region] += 1
        if request.path == "/catalog" and region in hang:
            await asyncio.sleep(3600)
        if request.path == "/catalog" and region in fail:
            return web.json_response({"error": "unavailable"}, status=503)
        return await handler(request)

    async def handle_counts(request: web.Request) -> web.Response:
        return web.json_response(dict(counts))

    app = create_app(1, Clock(started_at=time.time(), generation_s=generation_s))
    app.middlewares.append(misbehave)
    app.router.add_get("/__counts", handle_counts)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, default=0)
    parser.add_argument("--ready-file", type=Path)
    parser.add_argument("--hang", action="append", default=[])
    parser.add_argument("--fail", action="append", default=[])
    parser.add_argument("--generation-s", type=float, default=10.0)
    args = parser.parse_args()
    app = build_app(set(args.hang), set(args.fail), args.generation_s)
    listen = Listen("127.0.0.1", args.listen, args.ready_file)
    asyncio.run(serve_until_stopped(app, listen))


if __name__ == "__main__":
    main()
