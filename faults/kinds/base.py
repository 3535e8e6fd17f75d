"""What every fault kind is made of: typed params, a context, an outcome for the ledger.

A kind's `inject` either answers the request (returning an Outcome whose fields are
exactly what went on the wire) or returns None when the reply gives it nothing to
corrupt (a 304, an error status, an unparseable body); the proxy then forwards the
reply unaltered and records no fault.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from faults.upstream import UpstreamReply
from faults.wire import Connection, DetachedResponse, End, Trickled, Wire


class Params(BaseModel):
    """Base of every kind's params: unknown fields and silent type coercion are errors."""

    # No NaN or infinity either (JSON's 1e999 reads as infinity): a NaN passes no bound
    # check and an infinite duration never ends.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Outcome:
    """What one injected fault did, as the ledger records it.

    `connection` is the state the lie left the connection in: `reusable` (a complete,
    correctly framed reply), `closed` (the proxy closed it or the client left) or
    `poisoned` (left open with bytes on it that belong to no response).
    """

    status: int
    bytes_promised: int | None
    bytes_written: int
    end: End
    connected_ms: float
    response: web.StreamResponse
    connection: Connection = "closed"


@dataclass
class FaultContext:
    """The request being faulted and a lazy, cached fetch of its upstream reply."""

    request: web.BaseRequest
    region: str
    # How many times this kind was drawn for this region before this request since the
    # profile was installed: stateful kinds (flap) derive their phase from it.
    occurrence: int
    fetch: Callable[[], Awaitable[UpstreamReply]]
    # Seconds since this region's previous request was answered (or since the profile
    # was installed), 0 while another is in progress: time-driven kinds (false_recovery)
    # read their state here.
    quiet_s: float = 0.0
    _reply: UpstreamReply | None = field(default=None, init=False)
    _wire: Wire | None = field(default=None, init=False)

    async def upstream(self) -> UpstreamReply:
        """The upstream's reply to this request, fetched at most once."""
        if self._reply is None:
            self._reply = await self.fetch()
        return self._reply

    def take_wire(self) -> Wire:
        """Take the client connection over from aiohttp; the fault now owns how it ends."""
        self._wire = Wire(self.request)
        return self._wire

    def drop_connection(self) -> Wire | None:
        """Reset a connection the fault took over, when it is cancelled midway (shutdown).

        Returns the wire it dropped, or None when the fault had not written anything yet.
        """
        if self._wire is not None:
            self._wire.close_quietly()
        return self._wire


@dataclass(frozen=True)
class Kind(Generic[P]):
    """A named fault: its params model (with defaults) and its inject coroutine."""

    name: str
    summary: str
    params_model: type[P]
    inject: Callable[[FaultContext, P], Awaitable[Outcome | None]]
    # A kind that lies with the body asks the upstream for the whole body even when the
    # client sent a conditional request: a lying upstream answers with a broken 200
    # whatever the client asked, and a 304 would give the lie nothing to corrupt.
    needs_body: bool = True


# zlib's wbits 32 + 15: accept a zlib or a gzip header, whichever the body has.
AUTO_HEADER_WBITS = 47


def framed_headers(reply: UpstreamReply, content_length: int) -> list[tuple[str, str]]:
    """The reply's end-to-end headers plus the Content-Length the fault chooses to promise."""
    return unframed_headers(reply, ("Content-Length", str(content_length)))


def unframed_headers(reply: UpstreamReply, *framing: tuple[str, str]) -> list[tuple[str, str]]:
    """The reply's end-to-end headers plus the framing headers the fault chooses to send.

    The reply never carries Content-Length or Transfer-Encoding itself (they are
    hop-by-hop or rewritten by each hop), so `framing` alone says how the body is framed.
    """
    return [*reply.headers.items(), *framing]


def content_encoding(reply: UpstreamReply) -> str:
    """The reply's Content-Encoding in lower case, `identity` when it has none."""
    return reply.headers.get("Content-Encoding", "identity").strip().lower() or "identity"


def decoded_body(reply: UpstreamReply) -> bytes | None:
    """The reply's body with a gzip or deflate encoding undone; None for other encodings
    or a stream that does not decode."""
    encoding = content_encoding(reply)
    if encoding == "identity":
        return reply.body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    try:
        return zlib.decompress(reply.body, wbits=AUTO_HEADER_WBITS)
    except zlib.error:
        return None


def wire_outcome(wire: Wire, end: End, connection: Connection = "closed") -> Outcome:
    """The Outcome of a fault that wrote the connection itself, from what it wrote."""
    return Outcome(
        status=wire.status,
        bytes_promised=wire.promised_bytes,
        bytes_written=wire.body_bytes,
        end=end,
        connected_ms=wire.connected_ms,
        response=DetachedResponse(),
        connection=connection,
    )


def complete_outcome(response: web.Response) -> Outcome:
    """The Outcome of a fault answered by a complete, correctly framed response."""
    size = len(response.body) if isinstance(response.body, bytes) else 0
    # Only the answer to a HEAD carries a Content-Length other than its body's.
    promised = response.headers.get("Content-Length")
    return Outcome(
        status=response.status,
        bytes_promised=size if promised is None else int(promised),
        bytes_written=size,
        end="complete",
        connected_ms=0.0,
        response=response,
        connection="reusable",
    )


async def trickle(
    wire: Wire, data: bytes, chunk_bytes: int, pause_s: float, deadline: float | None
) -> Trickled:
    """Send `data` in chunks with a pause after each one, until done, gone or `deadline`.

    Chunk n leaves at start + n * pause_s, so time spent writing does not stretch the
    pace; `deadline` is a time.monotonic() value.
    """
    if not data:
        return "sent"
    return await wire.trickle(data, chunk_bytes, pause_s, deadline)
