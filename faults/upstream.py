"""Forwarding to the one configured upstream over a single pooled session.

Only the path and query of an incoming request ever travel: they are appended to the
configured base URL, so no request target, Host header or redirect can send the proxy to
another host. The reply comes back as the upstream sent it: status, reason, end-to-end
headers in their order and spelling, body bytes still compressed if they were. Framing
is the one thing re-done: a chunked reply goes out with a Content-Length (RFC 9110
section 7.6.1 makes Transfer-Encoding a hop-by-hop field), the body bytes unchanged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from faults.errors import UpstreamError

log = logging.getLogger(__name__)

# RFC 9110 section 7.6.1: these describe one connection, not the message, so a proxy
# must not pass them on. Host and Content-Length are rewritten by each hop instead.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


# The userinfo of an absolute URL: everything between "//" and the first "@" of the authority.
USERINFO = re.compile(r"(?<=//)[^/?#@]*@")

# RFC 9110 section 7.6.3: a gateway sends Via on the requests it forwards.
VIA = "1.1 blast-radius-faults"
# Headers aiohttp adds to a response that lacks them; a relayed reply must not gain them.
INVENTED = ("Server", "Content-Type")


@dataclass(frozen=True)
class UpstreamReply:
    """One complete upstream response: end-to-end headers (no Content-Length) and raw body.

    `content_length` is the upstream's own Content-Length header, kept for a reply that
    has none of the bytes it describes (the answer to a HEAD).
    """

    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes
    content_length: str | None = None

    @property
    def is_ok_with_body(self) -> bool:
        """True for a 200 that carries bytes, the only reply a body fault can corrupt."""
        return self.status == 200 and len(self.body) > 0


CONDITIONAL = ("If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since")


def end_to_end(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> CIMultiDict[str]:
    """Drop hop-by-hop headers, including any the Connection header names."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    drop = HOP_BY_HOP | named
    return CIMultiDict((name, value) for name, value in headers.items() if name.lower() not in drop)


class RelayedResponse(web.Response):
    """A response built from an upstream reply; it carries no header the upstream did not."""

    def __init__(self, reply: UpstreamReply) -> None:
        headers = CIMultiDict(reply.headers)
        if not reply.body and reply.content_length is not None:
            headers["Content-Length"] = reply.content_length
        super().__init__(status=reply.status, reason=reply.reason, headers=headers)
        if reply.body:
            self.body = reply.body
        self.upstream_names = frozenset(name.lower() for name in reply.headers)


def relay(reply: UpstreamReply) -> web.Response:
    """The upstream's reply as a response with status, headers and body unaltered."""
    return RelayedResponse(reply)


async def drop_invented_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: remove what aiohttp added to a relayed reply.

    Date stays: RFC 9110 section 6.6.1 asks a recipient that forwards a reply without
    one to add it.
    """
    if isinstance(response, RelayedResponse):
        for name in INVENTED:
            if name.lower() not in response.upstream_names:
                response.headers.popall(name, None)


def redacted_url(text: str) -> str:
    """`text` with any user:password in its authority replaced by `***`, for messages.

    RFC 3986 section 3.2.1 deprecates passwords in URLs for this reason: they end up in logs.
    """
    return USERINFO.sub("***@", text)


def bad_gateway(error: UpstreamError) -> web.Response:
    """The short honest answer when the upstream cannot be reached."""
    return web.Response(status=502, text=f"bad gateway: {error}\n")


def _as_sent(raw_headers: tuple[tuple[bytes, bytes], ...]) -> CIMultiDict[str]:
    # aiohttp's parsed headers respell well-known names (ETag becomes Etag); the raw
    # pairs keep the upstream's spelling. Bytes that are not UTF-8 survive decoding as
    # surrogates; faults.wire restores them, aiohttp's writer drops them.
    return CIMultiDict(
        (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        for name, value in raw_headers
    )


class Upstream:
    """The configured upstream and the one client session used for every request to it."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        url = URL(base_url)
        # Credentials in the URL go out as Basic auth and nowhere else: base_url, which
        # every message and 502 body shows, never holds them.
        self._auth: aiohttp.BasicAuth | None = None
        if url.user is not None or url.password is not None:
            self._auth = aiohttp.BasicAuth(url.user or "", url.password or "")
            url = url.with_user(None)
        self.base_url = str(url).rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(5.0, timeout_s))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pooled session; call once from the running event loop."""
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            # Relay bytes exactly as sent: no decoding, no headers the client did not send,
            # and no cookies carried from one client's response into another's request.
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close the pooled session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def target(self, request: web.BaseRequest) -> URL:
        """The upstream URL for `request`: base URL + the request's own path and query."""
        path_qs = request.rel_url.raw_path_qs
        if not path_qs.startswith("/"):
            path_qs = "/" + path_qs
        return URL(self.base_url + path_qs, encoded=True)

    async def fetch(self, request: web.BaseRequest, unconditional: bool = False) -> UpstreamReply:
        """Send `request` upstream and read the whole reply; raise UpstreamError if it fails.

        `unconditional` drops the validators (If-Modified-Since, If-None-Match) so that the
        upstream answers with the full body rather than a 304.
        """
        if self._session is None:
            raise UpstreamError("the upstream session is not open")
        target = self.target(request)
        body = await request.read()
        headers = end_to_end(request.headers)
        headers.add("Via", VIA)
        if self._auth is not None and "Authorization" not in headers:
            headers["Authorization"] = self._auth.encode()
        if unconditional:
            for name in CONDITIONAL:
                headers.popall(name, None)
        try:
            async with self._session.request(
                request.method,
                target,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as response:
                payload = await response.read()
                return UpstreamReply(
                    status=response.status,
                    reason=response.reason or "",
                    headers=end_to_end(_as_sent(response.raw_headers)),
                    body=payload,
                    content_length=response.headers.get("Content-Length"),
                )
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = str(exc) or type(exc).__name__
            log.warning("upstream %s failed: %s", target, reason)
            raise UpstreamError(f"{self.base_url} did not answer: {reason}") from exc
