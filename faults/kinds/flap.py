"""flap: per region, a repeating pattern of injected 5xx answers and forwarded replies.

The pattern is "bad_count bad, then good_count good", repeated: bad_count=1,
good_count=1 (the default) alternates, so a retry-once client always lands on the good
answer and never notices the outage; bad_count=3, good_count=1 defeats three retries;
good_count=0 is a steady outage. The phase comes from how often flap was drawn for this
region since the profile was installed (or the counters reset), so two regions never
share it and other kinds drawn in between do not move it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import relay


class FlapParams(Params):
    """The pattern: bad_count errors, then good_count forwarded replies, repeated."""

    bad_count: int = Field(default=1, ge=1)
    good_count: int = Field(default=1, ge=0)
    status: int = Field(default=503, ge=500, le=599)


async def inject(ctx: FaultContext, params: FlapParams) -> Outcome | None:
    """Answer with the error status in the bad phase, forward the reply in the good one."""
    phase = ctx.occurrence % (params.bad_count + params.good_count)
    if phase < params.bad_count:
        text = f"flap: injected {params.status}\n"
        return complete_outcome(web.Response(status=params.status, text=text))
    return complete_outcome(relay(await ctx.upstream()))


KIND = Kind(
    name="flap",
    summary="per region: bad_count injected 5xx, then good_count forwarded replies, repeated",
    params_model=FlapParams,
    inject=inject,
    needs_body=False,
)
