"""The aiohttp application of the proxy: admission, control API, then forwarding."""

from __future__ import annotations

from aiohttp import web

from faults.admission import Admission
from faults.control import add_control_routes
from faults.proxy import SHUTDOWN_GRACE_S, FaultProxy, summary_context
from faults.upstream import drop_invented_headers


def build_app(
    proxy: FaultProxy, bind_host: str, token: str | None, summary_interval_s: float
) -> web.Application:
    """Control routes first, then the catch-all that forwards or lies."""
    app = web.Application(middlewares=[Admission(bind_host).middleware])
    add_control_routes(app, proxy, token)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    app.on_response_prepare.append(drop_invented_headers)

    async def open_upstream(app: web.Application) -> None:
        await proxy.upstream.start()

    async def close_upstream(app: web.Application) -> None:
        await proxy.upstream.close()

    async def abort_in_flight(app: web.Application) -> None:
        await proxy.abort_in_flight(SHUTDOWN_GRACE_S)

    app.on_startup.append(open_upstream)
    # on_shutdown runs once the listening socket is closed and before aiohttp's own wait.
    app.on_shutdown.append(abort_in_flight)
    app.cleanup_ctx.append(summary_context(proxy, summary_interval_s))
    app.on_cleanup.append(close_upstream)
    return app
