"""false_recovery: per region, the first request after a quiet spell is served, the rest fail.

A request that arrives after the region sent nothing for at least `quiet_ms` is
forwarded unaltered: the upstream looks recovered. Every other request gets the error
`status` with a short text body, as if the upstream fell over again the moment traffic
resumed. A client that probes after a cool-down gets one good answer each time; what it
does with the failures that follow shows whether one good answer was enough for it to
trust the upstream again.

The quiet spell is measured by the proxy, per region, from the moment the region's
previous request was answered (whichever kind, if any, answered it; or from the moment
the profile was installed) to this one; a region with a request in progress is not
quiet. Both answers are ledger rows, complete and correctly framed; `status` tells them
apart. A served request the upstream itself fails is answered 502, and recorded so.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from faults.errors import UpstreamError
from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import bad_gateway, relay

# An hour: a quiet spell longer than any cool-down worth testing.
MAX_QUIET_MS = 3_600_000


class FalseRecoveryParams(Params):
    """How long a region must have been quiet to be served, and the error otherwise."""

    quiet_ms: int = Field(default=4000, ge=1, le=MAX_QUIET_MS)
    status: int = Field(default=503, ge=500, le=599)


async def inject(ctx: FaultContext, params: FalseRecoveryParams) -> Outcome | None:
    """Forward the reply after a quiet spell; answer with the error status otherwise."""
    if ctx.quiet_s * 1000.0 >= params.quiet_ms:
        try:
            return complete_outcome(relay(await ctx.upstream()))
        except UpstreamError as exc:
            # The client is answered either way, and the ledger must hold every answer
            # the region got: the verdict counts failures between the served requests.
            return complete_outcome(bad_gateway(exc))
    text = f"false_recovery: injected {params.status}\n"
    return complete_outcome(web.Response(status=params.status, text=text))


KIND = Kind(
    name="false_recovery",
    summary="per region: the first request after quiet_ms of silence is forwarded, "
    "every other one gets a 5xx",
    params_model=FalseRecoveryParams,
    inject=inject,
    needs_body=False,
)
