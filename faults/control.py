"""The control API under /__faults/: read and swap the profile, read and reset the counters.

It is how a storm switches phases and how a UI retargets the proxy live. Paths under the
prefix are never forwarded upstream, whatever the method. Given a token, every call
needs `Authorization: Bearer TOKEN` and gets 401 otherwise; the proxy refuses to start
bound off loopback without one (see faults.cli).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from faults.errors import ProfileError
from faults.ledger import sanitized_path
from faults.profile import MAX_PROFILE_BYTES, check_profile_size, parse_profile
from faults.proxy import CONTROL_PREFIX, FaultProxy

log = logging.getLogger(__name__)

CONTROL_PATHS = ("health", "profile", "counters", "requests", "runtime", "reset")
PROXY_KEY: web.AppKey[FaultProxy] = web.AppKey("proxy")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).digest()


def bearer_matches(header: str | None, token: str) -> bool:
    """True when an Authorization header carries exactly `token` as a Bearer credential.

    Both sides are hashed first, so the comparison takes the same time whatever the
    length or the content of the guess.
    """
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_digest(given.strip()), _digest(token))


def guarded(handler: Handler, token: str | None) -> Handler:
    """`handler`, answering 401 first when a token is set and the request lacks it."""
    if token is None:
        return handler

    async def checked(request: web.Request) -> web.StreamResponse:
        if bearer_matches(request.headers.get("Authorization"), token):
            return await handler(request)
        log.warning(
            "control API refused %s %s from %s: missing or wrong token",
            request.method,
            sanitized_path(request.path),
            request.remote or "unknown",
        )
        return web.Response(
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="faults"'},
            text="this proxy's control API needs the header Authorization: Bearer TOKEN "
            "with the token it was started with\n",
        )

    return checked


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _get_profile(request: web.Request) -> web.Response:
    return web.json_response(request.app[PROXY_KEY].dice.profile.as_json())


async def _bounded_body(request: web.Request, limit_bytes: int) -> bytes:
    """The request body, or at most `limit_bytes` + 1 of it: enough to tell it is too large."""
    body = bytearray()
    while len(body) <= limit_bytes:
        chunk = await request.content.read(limit_bytes + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def _put_profile(request: web.Request) -> web.Response:
    proxy = request.app[PROXY_KEY]
    source = f"PUT {CONTROL_PREFIX}profile"
    try:
        # A declared length is refused before a byte of the body is read.
        check_profile_size(request.content_length or 0, source)
        profile = parse_profile(await _bounded_body(request, MAX_PROFILE_BYTES), source)
    except ProfileError as exc:
        log.warning("profile refused: %s", exc)
        return web.Response(status=400, text=f"{exc}\n")
    proxy.install(profile)
    return web.json_response({"ok": True, "profile": profile.as_json()})


async def _get_counters(request: web.Request) -> web.Response:
    counters = request.app[PROXY_KEY].counters
    return web.json_response({region: dict(kinds) for region, kinds in counters.items()})


async def _get_requests(request: web.Request) -> web.Response:
    # Every request per region since start or reset, lied to or not.
    return web.json_response(dict(request.app[PROXY_KEY].requests))


async def _get_runtime(request: web.Request) -> web.Response:
    # What a soak run watches: both return to their idle values once the load stops,
    # unless a request or a fault's timer leaked (the count includes this handler's task).
    proxy = request.app[PROXY_KEY]
    return web.json_response({"tasks": len(asyncio.all_tasks()), "in_flight": proxy.in_flight})


async def _reset(request: web.Request) -> web.Response:
    request.app[PROXY_KEY].reset()
    return web.json_response({"ok": True})


async def _fallback(request: web.Request) -> web.Response:
    # Reached by a control path with the wrong method, or an unknown control path; it
    # must answer here because the catch-all route after it would forward upstream.
    name = request.path.removeprefix(CONTROL_PREFIX)
    if name in CONTROL_PATHS:
        return web.Response(status=405, text=f"{request.method} is not allowed on {name}\n")
    known = ", ".join(CONTROL_PREFIX + path for path in CONTROL_PATHS)
    shown = sanitized_path(request.path)
    return web.Response(status=404, text=f"no control endpoint {shown}; use {known}\n")


def add_control_routes(app: web.Application, proxy: FaultProxy, token: str | None) -> None:
    """Register the control API on `app`, before any catch-all route."""
    app[PROXY_KEY] = proxy
    routes = (
        ("GET", "health", _health),
        ("GET", "profile", _get_profile),
        ("PUT", "profile", _put_profile),
        ("GET", "counters", _get_counters),
        ("GET", "requests", _get_requests),
        ("GET", "runtime", _get_runtime),
        ("POST", "reset", _reset),
    )
    for method, name, handler in routes:
        app.router.add_route(method, CONTROL_PREFIX + name, guarded(handler, token))
    app.router.add_route("*", "/__faults{tail:.*}", guarded(_fallback, token))
