"""truncate: a 200 promising the full body, only the first part of it, then FIN, RST or a hang."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.kinds.base import FaultContext, Kind, Outcome, Params, framed_headers, wire_outcome

# An hour: longer than any client waits, short enough that a forgotten hang ends.
MAX_HANG_MS = 3_600_000


class TruncateParams(Params):
    """How much of the body survives and how the connection ends after it."""

    keep_fraction: float = Field(default=0.5, ge=0, lt=1)
    # When set, wins over keep_fraction; capped at one byte short of the body.
    keep_bytes: int | None = Field(default=None, ge=0)
    end: Literal["fin", "rst", "hang"] = "fin"
    hang_max_ms: float = Field(default=30_000.0, gt=0, le=MAX_HANG_MS)

    def kept_bytes(self, body_bytes: int) -> int:
        """Bytes of a `body_bytes` long body that are sent: always fewer than all of them."""
        if self.keep_bytes is not None:
            return min(self.keep_bytes, body_bytes - 1)
        return int(body_bytes * self.keep_fraction)


async def inject(ctx: FaultContext, params: TruncateParams) -> Outcome | None:
    """Promise the whole body, send the kept part, end the connection as configured."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, len(reply.body)))

    await wire.send_body(reply.body[: params.kept_bytes(len(reply.body))])
    end = await wire.end(params.end, params.hang_max_ms / 1000)
    return wire_outcome(wire, end)


KIND = Kind(
    name="truncate",
    summary="Content-Length of the full body, keep_fraction or keep_bytes of it, then end",
    params_model=TruncateParams,
    inject=inject,
)
