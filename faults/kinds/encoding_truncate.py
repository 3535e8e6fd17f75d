"""encoding_truncate: a gzip or deflate body cut before its trailer, framed consistently.

The reply is a complete, correctly framed 200: Content-Length is exactly the number of
body bytes sent, and the connection stays fit for the next request. The lie is inside
the encoding: the compressed stream stops at keep_fraction of its length, never later
than just before its trailer (gzip: CRC-32 and ISIZE, 8 bytes, RFC 1952; deflate, which
HTTP means as the zlib format: Adler-32, 4 bytes, RFC 1950 and RFC 9110 section
8.4.1.2). A decoder fed this stream yields a prefix of the body and simply runs out; only
one that insists on the end of the stream notices.

The compressed stream is the upstream's own when it already sent the requested
encoding. Otherwise the identity body (or the upstream's other encoding, decoded) is
compressed here, with zlib level 6 and window bits 15 (gzip: an mtime of 0, so the
bytes are the same every time). The request's Accept-Encoding is ignored, as a
misconfigured upstream would.
"""

from __future__ import annotations

import zlib
from typing import Literal

from multidict import CIMultiDict
from pydantic import Field

from faults.kinds.base import (
    FaultContext,
    Kind,
    Outcome,
    Params,
    complete_outcome,
    content_encoding,
    decoded_body,
)
from faults.upstream import UpstreamReply, relay

Encoding = Literal["gzip", "deflate"]
TRAILER_BYTES: dict[str, int] = {"gzip": 8, "deflate": 4}
# zlib's window bits: 15 for the zlib format, 16 + 15 for gzip.
WBITS: dict[str, int] = {"gzip": 31, "deflate": 15}
LEVEL = 6
# The spellings of each encoding an upstream may use (RFC 9110 section 8.4.1.3: x-gzip).
SPELLINGS: dict[str, tuple[str, ...]] = {"gzip": ("gzip", "x-gzip"), "deflate": ("deflate",)}


class EncodingTruncateParams(Params):
    """The encoding sent and how much of its compressed stream survives."""

    encoding: Encoding = "gzip"
    # Share of the compressed stream sent; capped just before the trailer.
    keep_fraction: float = Field(default=0.5, ge=0, lt=1)

    def kept_bytes(self, stream_bytes: int) -> int:
        """Bytes of a `stream_bytes` long compressed stream that are sent: never its trailer."""
        cap = stream_bytes - TRAILER_BYTES[self.encoding]
        return max(0, min(int(stream_bytes * self.keep_fraction), cap))


def compressed(data: bytes, encoding: Encoding) -> bytes:
    """`data` as a whole gzip or zlib stream, the way this kind compresses it."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS[encoding])
    return compressor.compress(data) + compressor.flush()


def _stream(reply: UpstreamReply, encoding: Encoding) -> bytes | None:
    if content_encoding(reply) in SPELLINGS[encoding]:
        return reply.body
    identity = decoded_body(reply)
    return None if identity is None else compressed(identity, encoding)


async def inject(ctx: FaultContext, params: EncodingTruncateParams) -> Outcome | None:
    """Answer with the body's compressed stream cut before its trailer."""
    reply = await ctx.upstream()
    stream = _stream(reply, params.encoding) if reply.is_ok_with_body else None
    if stream is None:
        return None

    headers = CIMultiDict(reply.headers)
    headers["Content-Encoding"] = params.encoding
    body = stream[: params.kept_bytes(len(stream))]
    return complete_outcome(relay(UpstreamReply(200, reply.reason, headers, body)))


KIND = Kind(
    name="encoding_truncate",
    summary="gzip or deflate stream cut before its trailer; Content-Length matches what is sent",
    params_model=EncodingTruncateParams,
    inject=inject,
)
