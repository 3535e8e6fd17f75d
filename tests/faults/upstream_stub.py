"""A tiny real upstream for the proxy tests: `python -m tests.faults.upstream_stub --listen 0`.

GET /catalog?region=XX[&format=ndjson][&items=N][&gzip=1]
                                        a fixed catalog (60 items, ~12 KB, by default)
                                        with Content-Length, Last-Modified, ETag and
                                        X-Item-Count; If-Modified-Since equal to
                                        Last-Modified gives 304; gzip=1 sends it
                                        gzip-encoded
GET /echo                               the request as JSON: method, path_qs, headers
GET /hits                               how many requests other than /hits arrived,
                                        and from how many client ports
GET /redirect?to=URL                    a 302 to URL
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

ITEMS_PER_CATALOG = 60
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
HITS: web.AppKey[list[int]] = web.AppKey("hits")
PEERS: web.AppKey[set[int]] = web.AppKey("peers")


def catalog(region: str, item_count: int = ITEMS_PER_CATALOG) -> dict[str, Any]:
    """The fixed catalog of `region`: about 12 KB of JSON with the default item count."""
    items = [
        {
            "id": f"{region}-{number:04d}",
            "title": f"Title {number} of {region}",
            "region": region,
            "description": f"Item {number} of the {region} stub catalog. " + "x" * 90,
        }
        for number in range(item_count)
    ]
    return {"region": region, "generation": 7, "item_count": len(items), "items": items}


def catalog_body(region: str, ndjson: bool = False, item_count: int = ITEMS_PER_CATALOG) -> bytes:
    """The exact bytes /catalog serves."""
    document = catalog(region, item_count)
    if ndjson:
        return b"".join(json.dumps(item).encode() + b"\n" for item in document["items"])
    return json.dumps(document).encode()


async def _catalog(request: web.Request) -> web.Response:
    region = request.headers.get("X-Region") or request.query.get("region", "US")
    ndjson = request.query.get("format") == "ndjson"
    item_count = int(request.query.get("items", ITEMS_PER_CATALOG))
    headers = {
        "Last-Modified": LAST_MODIFIED,
        "ETag": f'"{region}-7"',
        "X-Item-Count": str(item_count),
        "Content-Type": "application/x-ndjson" if ndjson else "application/json",
    }
    if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
        return web.Response(status=304, headers={"Last-Modified": LAST_MODIFIED})
    body = catalog_body(region.upper(), ndjson, item_count)
    if request.query.get("gzip") == "1":
        body = gzip.compress(body, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def _echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "path_qs": request.rel_url.raw_path_qs,
            "headers": {name: value for name, value in request.headers.items()},
        }
    )


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _hits(request: web.Request) -> web.Response:
    return web.json_response({"count": request.app[HITS][0], "ports": len(request.app[PEERS])})


@web.middleware
async def _count(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path != "/hits":
        request.app[HITS][0] += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer is not None:
            request.app[PEERS].add(int(peer[1]))
    response: web.StreamResponse = await handler(request)
    return response


async def _serve(port: int, ready_file: Path | None) -> None:
    app = web.Application(middlewares=[_count])
    app[HITS] = [0]
    app[PEERS] = set()
    app.router.add_get("/catalog", _catalog)
    app.router.add_get("/echo", _echo)
    app.router.add_get("/hits", _hits)
    app.router.add_get("/redirect", _redirect)
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    if ready_file is not None:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        temporary = ready_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"url": url}))
        os.replace(temporary, ready_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, default=0)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    asyncio.run(_serve(args.listen, args.ready_file))


if __name__ == "__main__":
    main()
