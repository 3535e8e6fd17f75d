"""clock_skew: the reply intact but its Date and Last-Modified moved by `offset_s`.

Both move together, as they would on an upstream whose clock is wrong. A reply without
Date gets one (now + offset); a reply without Last-Modified keeps none. Any status is
skewed, a 304 included, since conditional requests are where a wrong clock bites.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from multidict import CIMultiDict
from pydantic import Field

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import UpstreamReply, relay

SIX_HOURS_S = 6 * 3600.0


class ClockSkewParams(Params):
    """Signed clock offset in seconds; negative puts the upstream in the past."""

    offset_s: float = Field(default=SIX_HOURS_S, ge=-10 * 365 * 86400, le=10 * 365 * 86400)


def shifted(http_date: str | None, offset_s: float) -> str | None:
    """An HTTP date moved by offset_s; None when it is absent or not a date."""
    if http_date is None:
        return None
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime((moment + timedelta(seconds=offset_s)).astimezone(UTC), usegmt=True)


def _skewed(reply: UpstreamReply, offset_s: float) -> UpstreamReply:
    headers = CIMultiDict(reply.headers)
    now = format_datetime(datetime.now(UTC), usegmt=True)
    headers["Date"] = shifted(headers.get("Date", now), offset_s) or now
    last_modified = shifted(headers.get("Last-Modified"), offset_s)
    if last_modified is not None:
        headers["Last-Modified"] = last_modified
    return UpstreamReply(reply.status, reply.reason, headers, reply.body)


async def inject(ctx: FaultContext, params: ClockSkewParams) -> Outcome | None:
    """Forward the reply with both clock headers moved by offset_s."""
    reply = await ctx.upstream()
    return complete_outcome(relay(_skewed(reply, params.offset_s)))


KIND = Kind(
    name="clock_skew",
    summary="body intact, Date and Last-Modified moved by offset_s",
    params_model=ClockSkewParams,
    inject=inject,
    needs_body=False,
)
