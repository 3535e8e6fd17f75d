"""dribble_then_reset: the full Content-Length, part of the body in small paced chunks, RST."""

from __future__ import annotations

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


class DribbleThenResetParams(Params):
    """How much of the body is dribbled, in what chunks and at what pace."""

    keep_fraction: float = Field(default=0.5, ge=0, lt=1)
    chunk_bytes: int = Field(default=512, gt=0)
    pause_ms: float = Field(default=100.0, ge=0, le=60_000)


async def inject(ctx: FaultContext, params: DribbleThenResetParams) -> Outcome | None:
    """Promise the whole body, dribble keep_fraction of it, then reset the connection."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, len(reply.body)))

    kept = reply.body[: int(len(reply.body) * params.keep_fraction)]
    sent = await trickle(wire, kept, params.chunk_bytes, params.pause_ms / 1000, None)
    end: End = "client_gone"
    if sent == "sent":
        end = await wire.end("rst", hang_limit_s=0.0)
    return wire_outcome(wire, end)


KIND = Kind(
    name="dribble_then_reset",
    summary="full Content-Length, keep_fraction of the body in paced chunks, then RST",
    params_model=DribbleThenResetParams,
    inject=inject,
)
