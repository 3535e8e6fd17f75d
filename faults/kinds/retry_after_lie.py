"""retry_after_lie: a 429 or 503 whose Retry-After no client should obey as written.

RFC 9110 section 10.2.3 allows two forms, a non-negative number of seconds or an
HTTP-date. Each mode breaks them in one way:

    negative    `-120`: a delay before now; a client that sleeps it raises or retries
                in a tight loop
    past_date   an HTTP-date one day before the reply's Date: "retry at once"
    huge        `4294967296` seconds (about 136 years, one more than 32 bits hold): a
                client that obeys never retries, one that stores it in 32 bits wraps
    unparsable  `soon`: neither form; a client that does int() on it raises

The upstream is never asked: the error comes from something in front of it (a rate
limiter, a load balancer). The reply is complete and correctly framed, with a short
text body, and the connection stays fit for the next request.
"""

from __future__ import annotations

import http
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Literal

from multidict import CIMultiDict

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import UpstreamReply, relay

NEGATIVE_S = "-120"
HUGE_S = str(2**32)
UNPARSABLE = "soon"
PAST = timedelta(days=1)


class RetryAfterLieParams(Params):
    """The error status and which lie its Retry-After tells."""

    status: Literal[429, 503] = 503
    mode: Literal["negative", "past_date", "huge", "unparsable"] = "negative"


def retry_after(mode: str, now: datetime) -> str:
    """The Retry-After value of `mode` for a reply dated `now`."""
    if mode == "past_date":
        return format_datetime(now - PAST, usegmt=True)
    return {"negative": NEGATIVE_S, "huge": HUGE_S}.get(mode, UNPARSABLE)


async def inject(ctx: FaultContext, params: RetryAfterLieParams) -> Outcome | None:
    """Answer with the error status and the lying Retry-After, without asking the upstream."""
    now = datetime.now(UTC).replace(microsecond=0)
    headers = CIMultiDict(
        [
            ("Date", format_datetime(now, usegmt=True)),
            ("Retry-After", retry_after(params.mode, now)),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    text = f"retry_after_lie: injected {params.status}\n".encode()
    return complete_outcome(
        relay(UpstreamReply(params.status, http.HTTPStatus(params.status).phrase, headers, text))
    )


KIND = Kind(
    name="retry_after_lie",
    summary="a 429 or 503 with a negative, past, absurdly large or unparsable Retry-After",
    params_model=RetryAfterLieParams,
    inject=inject,
    needs_body=False,
)
