"""Named bugs of the ingest: each switches one defence of the hardened ingest off.

A harness is only as good as what it catches, so the reference ingest can be made
worse on purpose, one realistic mistake at a time. Each bug is the way such code is
commonly written, not data thrown away on purpose: a streaming importer that commits
as it reads, a client that trusts the HTTP library to police framing, a retry that
hides an outage. `--ingest naive` is the ingest with every bug switched on.

The names are a stable interface: storms and the bug matrix pass them to
`python -m discovery serve --bugs NAMES`.
"""

from __future__ import annotations

ALL = "all"
# An error echoes at most this many unknown names, each cut to this many characters.
MAX_SHOWN_NAMES = 3
MAX_SHOWN_CHARS = 40

BUGS: dict[str, str] = {
    "stream_commit": (
        "rows are committed while the NDJSON body streams: the region is cleared, then "
        "every few rows are committed, so a cut stream leaves a partial snapshot"
    ),
    "no_length_check": (
        "no Content-Length, X-Item-Count, item_count or gzip trailer check: a body cut at "
        "a line end passes as whole"
    ),
    "no_min_items": (
        "no minimum item count and no shrink check: an empty or shrunken catalog replaces "
        "a full one"
    ),
    "retry_once": (
        "a 503 or 429 is retried at once, Retry-After ignored, and the retry's 200 is "
        "trusted: the breaker never hears of the failure"
    ),
    "trust_clocks": (
        "upstream Last-Modified and Date are stored as sent: a Last-Modified from the "
        "future freezes the region on 304s"
    ),
    "no_deadline": (
        "per-read timeouts only, no total deadline and no throughput floor: a trickle "
        "holds the ingest for as long as it lasts"
    ),
    "serial_loop": ("one loop refreshes every region in turn: a slow region delays all the others"),
    "single_success_breaker": (
        "a half-open breaker closes after one success instead of two in a row"
    ),
}


class UnknownBugError(ValueError):
    """A bug name that is not in BUGS; the message lists the known ones."""


def parse_bugs(text: str) -> frozenset[str]:
    """Return the bugs named in `text`: comma-separated names from BUGS, `all`, or nothing.

    Spaces around names and empty items are ignored; an unknown name raises
    UnknownBugError naming it and the known ones, even next to `all`.
    """
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - BUGS.keys() - {ALL})
    if unknown:
        shown = ", ".join(_shown(name) for name in unknown[:MAX_SHOWN_NAMES])
        raise UnknownBugError(
            f"unknown bug {shown}: use comma-separated names from {', '.join(BUGS)}, "
            f"or {ALL}, or nothing"
        )
    if ALL in names:
        return frozenset(BUGS)
    return frozenset(names)


def _shown(name: str) -> str:
    """A refused name as the message echoes it: repr() keeps it on one line, then cut."""
    text = repr(name)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."
