"""unframed_truncate: a 200 with no length framing at all, cut, then the connection closed.

The reply carries neither Content-Length nor Transfer-Encoding, only `Connection:
close`: its body is delimited by the close itself (RFC 9112 section 6.3, rule 8). The
proxy sends the first keep_bytes (else int(len * keep_fraction)) bytes, always fewer
than the whole body, and then closes:

    fin   the client reads EOF, which is exactly how this reply says "done": nothing
          on the wire tells the cut from the end
    rst   the client gets ECONNRESET after the kept bytes

With `align: line` the cut moves back to just after the last newline at or before it,
so an NDJSON body loses whole lines only and still parses line by line (a body with no
newline before the cut goes out empty). The upstream's own headers travel unchanged, an
X-Item-Count included: they are the only clue left.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.kinds.base import (
    FaultContext,
    Kind,
    Outcome,
    Params,
    unframed_headers,
    wire_outcome,
)


class UnframedTruncateParams(Params):
    """How much of the body survives, where the cut may fall, and how the connection ends."""

    keep_fraction: float = Field(default=0.5, ge=0, lt=1)
    # When set, wins over keep_fraction; capped at one byte short of the body.
    keep_bytes: int | None = Field(default=None, ge=0)
    align: Literal["byte", "line"] = "byte"
    end: Literal["fin", "rst"] = "fin"

    def kept_bytes(self, body: bytes) -> int:
        """Bytes of `body` that are sent: always fewer than all of them."""
        if self.keep_bytes is not None:
            kept = min(self.keep_bytes, len(body) - 1)
        else:
            kept = int(len(body) * self.keep_fraction)
        if self.align == "line":
            # Just after the last newline in the kept bytes; 0 when there is none.
            kept = body.rfind(b"\n", 0, kept) + 1
        return kept


async def inject(ctx: FaultContext, params: UnframedTruncateParams) -> Outcome | None:
    """Send a close-delimited 200 with only the kept part of the body, then end it."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, unframed_headers(reply, ("Connection", "close")))

    await wire.send_body(reply.body[: params.kept_bytes(reply.body)])
    end = await wire.end(params.end, hang_limit_s=0.0)
    return wire_outcome(wire, end)


KIND = Kind(
    name="unframed_truncate",
    summary="no Content-Length, no chunks, Connection: close; part of the body, then FIN",
    params_model=UnframedTruncateParams,
    inject=inject,
)
