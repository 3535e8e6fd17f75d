"""HTTP dates (RFC 9110 section 5.6.7) as epoch seconds, and the clamp against future clocks."""

from __future__ import annotations

import datetime
import email.utils
import math


def format_http_date(epoch_s: float) -> str:
    """Return `epoch_s` as an IMF-fixdate, truncated to the whole second HTTP dates carry."""
    return email.utils.formatdate(math.floor(epoch_s), usegmt=True)


def parse_http_date(text: str | None) -> float | None:
    """Return the epoch seconds of an HTTP date, or None when it is missing or unreadable."""
    if not text:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        # RFC 9110 dates are always GMT; a zone-less one is read as such, not as local time.
        return parsed.replace(tzinfo=datetime.UTC).timestamp()
    return parsed.timestamp()


def clamp_to_now(epoch_s: float | None, now_s: float) -> tuple[float | None, bool]:
    """Return (min(epoch_s, now_s), whether it was clamped).

    An upstream clock from the future must never be stored as a validator: sent back as
    If-Modified-Since it would make every later answer a 304 and freeze the region.
    """
    if epoch_s is None or epoch_s <= now_s:
        return epoch_s, False
    return now_s, True
