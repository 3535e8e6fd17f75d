"""complete_then_close: the whole body, correctly framed, then the connection closed at once.

Nothing in the reply is a lie: status, headers and every byte of the body under a
Content-Length that matches it. What is unannounced is the end: no `Connection: close`
warns the client, and right after the last byte the proxy closes the connection,

    fin   close() once the bytes are flushed: the client reads EOF after the body
    rst   once the client has acknowledged the last byte, SO_LINGER 0 and abort():
          the client gets ECONNRESET on its next read or write

This is the control case among the wire faults: a correct client reads exactly
Content-Length bytes, accepts the body, and opens a new connection for its next request
(RFC 9112 section 9.3.1 lets a server close an idle connection at any time).
"""

from __future__ import annotations

from typing import Literal

from faults.kinds.base import FaultContext, Kind, Outcome, Params, framed_headers, wire_outcome


class CompleteThenCloseParams(Params):
    """How the connection ends after the complete body."""

    end: Literal["fin", "rst"] = "fin"


async def inject(ctx: FaultContext, params: CompleteThenCloseParams) -> Outcome | None:
    """Send the reply whole under its true Content-Length, then close or reset."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, len(reply.body)))

    await wire.send_body(reply.body)
    end = await wire.end(params.end, hang_limit_s=0.0)
    return wire_outcome(wire, end)


KIND = Kind(
    name="complete_then_close",
    summary="the whole body under its true Content-Length, then FIN or RST at once",
    params_model=CompleteThenCloseParams,
    inject=inject,
)
