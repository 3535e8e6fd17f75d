"""lie_length: a Content-Length that disagrees with the bytes sent, by `delta_bytes`.

delta_bytes = body bytes sent - Content-Length, and the bytes sent are always a prefix
of the real body:

    delta < 0  Content-Length = len(body); len(body) + delta bytes sent, then FIN
               (the body is short of its promise)
    delta > 0  Content-Length = len(body) - delta; the whole body sent, so `delta`
               stray bytes follow the framed body where the next response would start

With delta > 0 the connection is left open and poisoned for up to `keep_open_ms`: a
keep-alive client that sends its next request on it reads the stray bytes as the start
of the answer, which is the desync this kind exists to provoke. The proxy never answers
that request: it closes the connection (FIN) as soon as the request arrives (end
`reused`), when the client leaves (`client_gone`) or when keep_open_ms passes (`fin`).
keep_open_ms = 0 closes right after the stray bytes.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from faults.kinds.base import FaultContext, Kind, Outcome, Params, framed_headers, wire_outcome
from faults.wire import End, Wire


class LieLengthParams(Params):
    """Signed size of the lie in bytes (zero would be the truth and is refused)."""

    delta_bytes: int = Field(default=-32)
    keep_open_ms: float = Field(default=10_000.0, ge=0, le=3_600_000)

    @field_validator("delta_bytes")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0 (a zero delta tells the truth)")
        return value

    def promised_and_sent(self, body_bytes: int) -> tuple[int, int]:
        """(Content-Length, body bytes sent) for a body of `body_bytes` bytes."""
        if self.delta_bytes < 0:
            return body_bytes, max(0, body_bytes + self.delta_bytes)
        return max(0, body_bytes - self.delta_bytes), body_bytes


async def _after_stray_bytes(wire: Wire, keep_open_ms: float) -> End:
    waited = await wire.wait_next_request(keep_open_ms / 1000)
    if waited == "gone":
        return "client_gone"
    wire.close_fin()
    return "reused" if waited == "spoke" else "fin"


async def inject(ctx: FaultContext, params: LieLengthParams) -> Outcome | None:
    """Frame the body with a Content-Length that is off by delta_bytes."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    promised, sent = params.promised_and_sent(len(reply.body))
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, promised))

    delivered = await wire.send_body(reply.body[:sent])
    poisoning = delivered and sent > promised and params.keep_open_ms > 0
    if not poisoning:
        return wire_outcome(wire, await wire.end("fin", hang_limit_s=0.0))
    end = await _after_stray_bytes(wire, params.keep_open_ms)
    return wire_outcome(wire, end, connection="poisoned")


KIND = Kind(
    name="lie_length",
    summary="Content-Length off by delta_bytes (sent minus promised); stray bytes poison",
    params_model=LieLengthParams,
    inject=inject,
)
