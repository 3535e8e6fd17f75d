"""chunked_truncate: a chunked 200 whose chunked framing never completes, then FIN.

The body goes out with `Transfer-Encoding: chunked` (RFC 9112 section 7.1) in chunks of
`chunk_bytes`, each `SIZE-IN-HEX CRLF data CRLF`; a complete message would end with the
last chunk and the empty trailer section, `0 CRLF CRLF`. Each mode breaks that end:

    mid_chunk      chunks up to the cut at keep_fraction of the body; the chunk holding
                   the cut has its size line and only the data before the cut
    bare_crlf      every chunk, then a bare CRLF where the last chunk `0 CRLF` belongs
    no_final_crlf  every chunk and the last chunk `0 CRLF`, but not the CRLF that ends
                   the trailer section

and the proxy then closes the connection (FIN). No Content-Length is sent, so
bytes_promised stays empty; bytes_written counts the body bytes as framed on the wire
(size lines and CRLFs included), exactly what a client reads after the header block.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faults.kinds.base import (
    FaultContext,
    Kind,
    Outcome,
    Params,
    unframed_headers,
    wire_outcome,
)

CRLF = b"\r\n"
LAST_CHUNK = b"0" + CRLF


class ChunkedTruncateParams(Params):
    """Where the chunked framing breaks, the chunk size, and the cut of mode mid_chunk."""

    mode: Literal["mid_chunk", "bare_crlf", "no_final_crlf"] = "mid_chunk"
    chunk_bytes: int = Field(default=1024, gt=0)
    # For mode mid_chunk: the share of the body's data bytes sent before the cut.
    keep_fraction: float = Field(default=0.5, ge=0, lt=1)


def chunk(data: bytes) -> bytes:
    """One chunk as it goes on the wire: size in hex, CRLF, the data, CRLF."""
    return f"{len(data):x}".encode("ascii") + CRLF + data + CRLF


def broken_chunked(body: bytes, params: ChunkedTruncateParams) -> bytes:
    """The bytes after the header block: `body` chunked, its end broken as the mode says."""
    size = params.chunk_bytes
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    if params.mode == "bare_crlf":
        return b"".join(map(chunk, pieces)) + CRLF
    if params.mode == "no_final_crlf":
        return b"".join(map(chunk, pieces)) + LAST_CHUNK

    cut = int(len(body) * params.keep_fraction)
    whole, part = divmod(cut, size)
    # The chunk holding the cut is announced whole but sent only up to the cut.
    cut_chunk = pieces[whole]
    head = f"{len(cut_chunk):x}".encode("ascii") + CRLF
    return b"".join(map(chunk, pieces[:whole])) + head + cut_chunk[:part]


async def inject(ctx: FaultContext, params: ChunkedTruncateParams) -> Outcome | None:
    """Send the body chunked with a broken end, then FIN."""
    reply = await ctx.upstream()
    if not reply.is_ok_with_body:
        return None
    wire = ctx.take_wire()
    wire.send_head(200, unframed_headers(reply, ("Transfer-Encoding", "chunked")))

    await wire.send_body(broken_chunked(reply.body, params))
    end = await wire.end("fin", hang_limit_s=0.0)
    return wire_outcome(wire, end)


KIND = Kind(
    name="chunked_truncate",
    summary="chunked body cut mid-chunk, or its last chunk or final CRLF missing, then FIN",
    params_model=ChunkedTruncateParams,
    inject=inject,
)
