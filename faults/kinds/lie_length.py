"""lie_length: a Content-Length that disagrees with the bytes sent, by `delta_bytes`.

delta_bytes = body bytes sent - Content-Length, and the bytes sent are always a prefix
of the real body:

    delta < 0  Content-Length = len(body); len(body) + delta bytes sent, then FIN
               (the body is short of its promise)
    delta > 0  Content-Length = len(body) - delta; the whole body sent, then FIN
               (the framed body is cut short but looks complete, and `delta` stray
               bytes follow it on the connection where a next response would start)
"""

from __future__ import annotations

from pydantic import Field, field_validator

from faults.kinds.base import FaultContext, Kind, Outcome, Params, framed_headers, wire_outcome


class LieLengthParams(Params):
    """Signed size of the lie in bytes; zero would be the truth and is refused."""

    delta_bytes: int = Field(default=-32)

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


async def inject(ctx: FaultContext, params: LieLengthParams) -> Outcome | None:
    """Frame the body with a Content-Length that is off by delta_bytes, then close."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    promised, sent = params.promised_and_sent(len(reply.body))
    wire = ctx.take_wire()
    wire.send_head(200, framed_headers(reply, promised))

    await wire.send_body(reply.body[:sent])
    end = await wire.end("fin", hang_limit_s=0.0)
    return wire_outcome(wire, 200, promised, end)


KIND = Kind(
    name="lie_length",
    summary="Content-Length off by delta_bytes (sent minus promised), then FIN",
    params_model=LieLengthParams,
    inject=inject,
)
