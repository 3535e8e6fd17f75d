"""A tiny real upstream for the proxy tests: `python -m tests.faults.upstream_stub --listen 0`.

GET /catalog?region=XX[&format=ndjson][&items=N][&gzip=1]
                                        a fixed catalog (60 items, ~12 KB, by default)
                                        with Content-Length, Last-Modified, Expires, ETag
                                        and X-Item-Count; If-Modified-Since equal to
                                        Last-Modified gives 304; gzip=1 sends it
                                        gzip-encoded
GET /echo                               the request as JSON: method, path_qs, headers
GET /hits                               how many requests other than /hits arrived,
                                        and from how many client ports
GET /redirect?to=URL                    a 302 to URL
POST /configure                         JSON {status, headers: [[name, value], ...],
                                        body_b64, chunk_bytes}: what /configured answers
                                        from now on; chunk_bytes > 0 sends it chunked
GET /configured                         exactly the configured reply: no Server, Date or
                                        Content-Type unless configured
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import os
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

ITEMS_PER_CATALOG = 60
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
EXPIRES = "Wed, 01 Jan 2025 01:00:00 GMT"
HITS: web.AppKey[list[int]] = web.AppKey("hits")
PEERS: web.AppKey[set[int]] = web.AppKey("peers")
CONFIGURED: web.AppKey[dict[str, Any]] = web.AppKey("configured")
EXACT = "X-Stub-Exact-Headers"


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
        "Expires": EXPIRES,
        "ETag": f'"{region}-7"',
        "X-Item-Count": str(item_count),
        "Content-Type": "application/x-ndjson" if ndjson else "application/json",
    }
    # A slow upstream: the reply waits delay_ms before it is sent.
    await asyncio.sleep(int(request.query.get("delay_ms", 0)) / 1000)
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


async def _configure(request: web.Request) -> web.Response:
    request.app[CONFIGURED].clear()
    request.app[CONFIGURED].update(await request.json())
    return web.json_response({"ok": True})


async def _configured(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIGURED]
    headers = [(name, value) for name, value in config["headers"]] + [(EXACT, "1")]
    body = base64.b64decode(config["body_b64"])
    chunk_bytes = int(config.get("chunk_bytes", 0))
    if chunk_bytes <= 0:
        return web.Response(status=config["status"], headers=headers, body=body or None)
    response = web.StreamResponse(status=config["status"], headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(body), chunk_bytes):
        await response.write(body[start : start + chunk_bytes])
    await response.write_eof()
    return response


async def _exact_headers(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp adds Server, Date and Content-Type when absent; /configured sends only
    # what it was told to.
    if response.headers.popall(EXACT, None) is None:
        return
    configured = {name.lower() for name, _ in request.app[CONFIGURED]["headers"]}
    for name in ("Server", "Date", "Content-Type"):
        if name.lower() not in configured:
            response.headers.popall(name, None)


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
    app[CONFIGURED] = {"status": 200, "headers": [], "body_b64": ""}
    app.on_response_prepare.append(_exact_headers)
    app.router.add_post("/configure", _configure)
    app.router.add_get("/configured", _configured)
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
