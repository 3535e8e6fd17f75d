"""What every fault kind is made of: typed params, a context, an outcome for the ledger.

A kind's `inject` either answers the request (returning an Outcome whose fields are
exactly what went on the wire) or returns None when the reply gives it nothing to
corrupt (a 304, an error status, an unparseable body); the proxy then forwards the
reply unaltered and records no fault.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from faults.upstream import UpstreamReply
from faults.wire import DetachedResponse, End, Wire


class Params(BaseModel):
    """Base of every kind's params: unknown fields and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


P = TypeVar("P", bound=Params)


@dataclass(frozen=True)
class Outcome:
    """What one injected fault did, as the ledger records it."""

    status: int
    bytes_promised: int | None
    bytes_written: int
    end: End
    connected_ms: float
    response: web.StreamResponse


@dataclass
class FaultContext:
    """The request being faulted and a lazy, cached fetch of its upstream reply."""

    request: web.BaseRequest
    region: str
    # How many times this kind was drawn for this region before this request since the
    # profile was installed: stateful kinds (flap) derive their phase from it.
    occurrence: int
    fetch: Callable[[], Awaitable[UpstreamReply]]
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

    def drop_connection(self) -> None:
        """Abort a connection a fault took over, when the fault is cancelled midway."""
        if self._wire is not None:
            self._wire.close_quietly()


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


def framed_headers(reply: UpstreamReply, content_length: int) -> list[tuple[str, str]]:
    """The reply's end-to-end headers plus the Content-Length the fault chooses to promise."""
    headers = [(name, value) for name, value in reply.headers.items()]
    headers.append(("Content-Length", str(content_length)))
    return headers


def wire_outcome(wire: Wire, status: int, bytes_promised: int, end: End) -> Outcome:
    """The Outcome of a fault that wrote the connection itself."""
    return Outcome(
        status=status,
        bytes_promised=bytes_promised,
        bytes_written=wire.body_bytes,
        end=end,
        connected_ms=wire.connected_ms,
        response=DetachedResponse(),
    )


def complete_outcome(response: web.Response) -> Outcome:
    """The Outcome of a fault answered by a complete, correctly framed response."""
    size = len(response.body) if isinstance(response.body, bytes) else 0
    return Outcome(
        status=response.status,
        bytes_promised=size,
        bytes_written=size,
        end="complete",
        connected_ms=0.0,
        response=response,
    )


Trickled = Literal["sent", "client_gone", "deadline"]


async def trickle(
    wire: Wire, data: bytes, chunk_bytes: int, pause_s: float, deadline: float | None
) -> Trickled:
    """Send `data` in chunks with a pause after each one, until done, gone or `deadline`."""
    for start in range(0, len(data), chunk_bytes):
        if deadline is not None and time.monotonic() >= deadline:
            return "deadline"
        if not await wire.send_body(data[start : start + chunk_bytes]):
            return "client_gone"
        pause_left_s = pause_s if deadline is None else min(pause_s, deadline - time.monotonic())
        if await wire.wait_client_gone(pause_left_s):
            return "client_gone"
    return "sent"
