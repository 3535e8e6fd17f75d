"""slowloris: the full Content-Length, then the body one byte per interval, never finished.

The last byte is never sent, so however patient the client is it never holds a whole
body. With `max_duration_ms` the proxy closes the connection (FIN) at that point;
without it the trickle and the wait after it last until the client leaves (capped at
HOLD_CEILING_S so an abandoned connection cannot pin the proxy forever).
"""

from __future__ import annotations

import time

from pydantic import Field

from faults.kinds.base import (
    FaultContext,
    Kind,
    Outcome,
    Params,
    framed_headers,
    trickle,
    wire_outcome,
)
from faults.wire import End

HOLD_CEILING_S = 3600.0


class SlowlorisParams(Params):
    """Pace of the trickle and an optional limit after which the proxy hangs up."""

    interval_ms: float = Field(default=300.0, gt=0, le=60_000)
    max_duration_ms: float | None = Field(default=None, gt=0, le=HOLD_CEILING_S * 1000)


async def inject(ctx: FaultContext, params: SlowlorisParams) -> Outcome | None:
    """Promise the whole body and trickle all of it but the last byte."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, len(reply.body)))
    limit_s = HOLD_CEILING_S if params.max_duration_ms is None else params.max_duration_ms / 1000
    deadline = time.monotonic() + limit_s

    sent = await trickle(wire, reply.body[:-1], 1, params.interval_ms / 1000, deadline)
    end: End = "client_gone"
    if sent != "client_gone" and not await wire.wait_client_gone(deadline - time.monotonic()):
        wire.close_fin()
        end = "fin"
    return wire_outcome(wire, end)


KIND = Kind(
    name="slowloris",
    summary="full Content-Length, then one byte per interval_ms, never the last byte",
    params_model=SlowlorisParams,
    inject=inject,
)
