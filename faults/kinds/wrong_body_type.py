"""wrong_body_type: a complete 200 whose body is an HTML page instead of the data.

Something in front of the upstream answers in its place, so the upstream is never asked:

    maintenance     a "down for maintenance" page
    captive_portal  a sign-in page that redirects (meta refresh) to a portal login
    challenge       an interstitial "checking your browser" page that needs JavaScript

The reply is correctly framed (Content-Length matches the page, the connection stays
fit for the next request), with status 200, `Cache-Control: no-store` and the
Content-Type `content_type` says: `text/html` is the honest label, `application/json`
the mislabelled one, which a client that trusts the label hands to its JSON parser. The
pages are fixed text, so the bytes are the same on every request.
"""

from __future__ import annotations

from typing import Literal

from multidict import CIMultiDict

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import UpstreamReply, relay

Page = Literal["maintenance", "captive_portal", "challenge"]

PAGES: dict[str, str] = {
    "maintenance": (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        "<title>Down for maintenance</title></head>\n"
        "<body><h1>We'll be back soon</h1>\n"
        "<p>This service is down for scheduled maintenance. Please try again later.</p>\n"
        "</body></html>\n"
    ),
    "captive_portal": (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="0; url=http://portal.invalid/login">'
        "<title>Sign in to the network</title></head>\n"
        "<body><p>You must sign in before using this network.</p>\n"
        '<p><a href="http://portal.invalid/login">Sign in</a></p>\n'
        "</body></html>\n"
    ),
    "challenge": (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        "<title>Just a moment...</title></head>\n"
        "<body><h1>Checking your browser before accessing the site</h1>\n"
        "<noscript>Enable JavaScript and cookies to continue.</noscript>\n"
        "<script>setTimeout(function () { location.reload(); }, 5000);</script>\n"
        "</body></html>\n"
    ),
}


class WrongBodyTypeParams(Params):
    """Which page answers and the Content-Type it is labelled with."""

    mode: Page = "maintenance"
    content_type: Literal["text/html", "application/json"] = "text/html"


def page(params: WrongBodyTypeParams) -> bytes:
    """The exact body of the page `params.mode` names."""
    return PAGES[params.mode].encode("utf-8")


async def inject(ctx: FaultContext, params: WrongBodyTypeParams) -> Outcome | None:
    """Answer with the page, without asking the upstream."""
    headers = CIMultiDict(
        [
            ("Content-Type", f"{params.content_type}; charset=utf-8"),
            ("Cache-Control", "no-store"),
        ]
    )
    return complete_outcome(relay(UpstreamReply(200, "OK", headers, page(params))))


KIND = Kind(
    name="wrong_body_type",
    summary="a 200 whose body is an HTML maintenance, captive portal or challenge page",
    params_model=WrongBodyTypeParams,
    inject=inject,
    needs_body=False,
)
