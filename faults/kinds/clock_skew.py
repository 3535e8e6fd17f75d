"""clock_skew: the reply intact but its clock headers wrong by `offset_s`.

Mode `shift` (the default): the headers named in `headers` (Date and Last-Modified by
default; Expires on request) move together, as they would on an upstream whose clock
is wrong: forward with a positive offset, back with a negative one. A reply without
Date gets one (now + offset) when Date is in the list, since every forwarded reply
carries a Date anyway; any other header the reply lacks, or whose value is not an HTTP
date (`Expires: 0`), stays as it is.

Mode `modified_after_date`: Date stays true (the upstream's, else now) and
Last-Modified is written as Date + offset_s (offset_s > 0): the upstream claims a
change it cannot have made yet, as one host of a cluster with a fast clock would
(RFC 9110 section 8.8.2.1 asks an origin never to send a Last-Modified later than its
Date). `headers` plays no part in it.

Any status is skewed, a 304 included, since conditional requests are where a wrong
clock bites.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal

from multidict import CIMultiDict
from pydantic import Field, ValidationInfo, field_validator

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import UpstreamReply, relay

SIX_HOURS_S = 6 * 3600.0
TEN_YEARS_S = 10 * 365 * 86400.0
# The HTTP-date headers a wrong upstream clock shows up in (RFC 9110 sections 6.6.1 and
# 8.8.2, RFC 9111 section 5.3), by lower-case name.
CLOCK_HEADERS = {name.lower(): name for name in ("Date", "Last-Modified", "Expires")}


class ClockSkewParams(Params):
    """Which clocks lie, by a signed offset in seconds, and the headers moved by `shift`."""

    mode: Literal["shift", "modified_after_date"] = "shift"
    offset_s: float = Field(default=SIX_HOURS_S, ge=-TEN_YEARS_S, le=TEN_YEARS_S)
    headers: tuple[str, ...] = ("Date", "Last-Modified")

    @field_validator("offset_s")
    @classmethod
    def _ahead_of_date(cls, value: float, info: ValidationInfo) -> float:
        if info.data.get("mode") == "modified_after_date" and value <= 0:
            raise ValueError(
                "must be > 0 with mode modified_after_date (Last-Modified = Date + offset_s)"
            )
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _known_headers(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError(f"must be a non-empty list of {_choices()}")
        names = []
        for item in value:
            name = CLOCK_HEADERS.get(item.lower()) if isinstance(item, str) else None
            if name is None:
                raise ValueError(f"{item!r} is not a clock header; use {_choices()}")
            if name in names:
                raise ValueError(f"{name} is listed twice; list it once")
            names.append(name)
        return tuple(names)


def _choices() -> str:
    return ", ".join(CLOCK_HEADERS.values())


def shifted(http_date: str | None, offset_s: float) -> str | None:
    """An HTTP date moved by offset_s; None when it is absent or not a date."""
    if http_date is None:
        return None
    try:
        moment = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime((moment + timedelta(seconds=offset_s)).astimezone(UTC), usegmt=True)


def _now_http_date() -> str:
    return format_datetime(datetime.now(UTC), usegmt=True)


def _skewed(reply: UpstreamReply, params: ClockSkewParams) -> UpstreamReply:
    headers = CIMultiDict(reply.headers)
    if params.mode == "modified_after_date":
        _modified_after_date(headers, params.offset_s)
    else:
        _shift(headers, params)
    return UpstreamReply(reply.status, reply.reason, headers, reply.body, reply.content_length)


def _modified_after_date(headers: CIMultiDict[str], offset_s: float) -> None:
    later = shifted(headers.get("Date"), offset_s)
    if later is None:
        now = datetime.now(UTC)
        headers["Date"] = format_datetime(now, usegmt=True)
        later = format_datetime(now + timedelta(seconds=offset_s), usegmt=True)
    headers["Last-Modified"] = later


def _shift(headers: CIMultiDict[str], params: ClockSkewParams) -> None:
    for name in params.headers:
        value = headers.get(name)
        if value is None and name == "Date":
            value = _now_http_date()
        moved = shifted(value, params.offset_s)
        if moved is not None:
            headers[name] = moved


async def inject(ctx: FaultContext, params: ClockSkewParams) -> Outcome | None:
    """Forward the reply with its clock headers wrong by offset_s."""
    reply = await ctx.upstream()
    return complete_outcome(relay(_skewed(reply, params)))


KIND = Kind(
    name="clock_skew",
    summary="body intact; Date and Last-Modified moved by offset_s, or Last-Modified after Date",
    params_model=ClockSkewParams,
    inject=inject,
    needs_body=False,
)
