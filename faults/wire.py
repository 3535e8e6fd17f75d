"""Raw control of one client connection, for faults that must lie below the HTTP layer.

aiohttp frames every response honestly, so a fault that promises one length and sends
another takes the connection over: it writes the status line, headers and body bytes
itself and decides how the connection ends. How it ends is the point of most faults:

    fin   close() after the bytes are flushed: the client reads EOF mid-body
    rst   SO_LINGER 0, then abort(): the client gets ECONNRESET
    hang  nothing more is sent; the connection stays open until the client leaves

Ending a short body with an ordinary end-of-response instead leaves the client waiting
for the promised bytes, which is a hang and not a truncation.

Taking a connection over puts a watcher between the transport and aiohttp's protocol.
It turns "the client left", "the client sent more bytes" and "the kernel took the
buffered bytes" into futures, so every wait of a fault sleeps until one of them or a
timer fires: a held connection costs no CPU between its bytes, and a thousand of them
do not slow the requests of other regions. Bytes the client sends after the takeover
are swallowed: a connection a fault owns never carries a request aiohttp would answer.

Invariants: a write never goes to a connection the client has closed, every wait ends
when the client leaves or the task is cancelled, and `body_bytes` counts exactly the
body bytes handed to the connection (including any beyond the promised length).
"""

from __future__ import annotations

import asyncio
import fcntl
import http
import math
import socket
import struct
import termios
import time
import weakref
from collections.abc import Iterable
from typing import Literal

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

End = Literal["fin", "rst", "hang", "complete", "client_gone", "reused", "aborted"]
Trickled = Literal["sent", "client_gone", "deadline"]
Connection = Literal["reusable", "closed", "poisoned"]

# How long an RST waits for the client to acknowledge the bytes already sent; the reset
# would otherwise discard them in the kernel and the client would see fewer.
ACK_WAIT_S = 1.0
# The kernel gives no event for an acknowledgement, so that one wait polls, backing off.
ACK_POLL_FIRST_S = 0.001
ACK_POLL_MAX_S = 0.05
RECHECK_S = 0.01


class ClientGoneError(ConnectionError):
    """The client closed the connection before the fault took it over."""


class DetachedResponse(web.StreamResponse):
    """Returned to aiohttp for a connection a fault wrote itself: it must write nothing more."""

    def __init__(self) -> None:
        super().__init__()
        # aiohttp must never read another request from this connection: whatever the
        # fault left on it belongs to the fault.
        self.force_close()

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _Watcher(asyncio.Protocol):
    """Between the transport and aiohttp's protocol once a fault owns the connection."""

    def __init__(self, inner: asyncio.BaseProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop
        self.gone: asyncio.Future[None] = loop.create_future()
        self.spoke: asyncio.Future[None] = loop.create_future()
        self.writable: asyncio.Future[None] = loop.create_future()
        self.writable.set_result(None)

    def data_received(self, data: bytes) -> None:
        _resolve(self.spoke)

    def eof_received(self) -> bool | None:
        # A client that half-closes is done with the exchange; asyncio then closes the
        # transport after flushing what is buffered, as it did before the takeover.
        _resolve(self.gone)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        _resolve(self.gone)
        _resolve(self.writable)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.writable.done():
            self.writable = self._loop.create_future()
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        _resolve(self.writable)
        self._inner.resume_writing()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Wire:
    """One client connection, taken over from aiohttp for the rest of its life."""

    def __init__(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ClientGoneError("the client left before the response started")
        self._transport = transport
        inner = transport.get_protocol()
        if isinstance(inner, RequestHandler):
            # aiohttp's idle timer for the connection would sit in the event loop's timer
            # heap for an hour per held connection, slowing every other timer; the
            # connection is never aiohttp's to keep alive again.
            inner.keep_alive(False)
        self._watcher = _Watcher(inner, asyncio.get_running_loop())
        if transport.get_write_buffer_size() > 0:
            self._watcher.writable = asyncio.get_running_loop().create_future()
        transport.set_protocol(self._watcher)
        # A zero high-water mark makes asyncio report every non-empty buffer, so a fault
        # learns when its bytes have left the process without polling.
        transport.set_write_buffer_limits(high=0, low=0)
        _no_delay(transport)
        self.body_bytes = 0
        self.status = 0
        self.promised_bytes: int | None = None
        self._head_at = time.monotonic()
        self._ended_at: float | None = None

    @property
    def client_gone(self) -> bool:
        """True once the client closed or reset the connection (or the proxy closed it)."""
        return self._watcher.gone.done() or self._transport.is_closing()

    @property
    def connected_ms(self) -> float:
        """Milliseconds from the status line until the connection ended (or until now)."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        return (end - self._head_at) * 1000.0

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """Write the status line and headers exactly as given.

        `status` and `promised_bytes` (the Content-Length written, if any) are kept from
        these very bytes, so the ledger records the promise the client actually got.
        """
        reason = http.HTTPStatus(status).phrase
        lines = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            lines.append(f"{name}: {value}")
            if name.lower() == "content-length":
                self.promised_bytes = int(value)
        self.status = status
        self._head_at = time.monotonic()
        # aiohttp decodes header bytes as UTF-8 with surrogateescape; this restores them.
        head = "\r\n".join(lines) + "\r\n\r\n"
        self._transport.write(head.encode("utf-8", errors="surrogateescape"))

    async def send_body(self, data: bytes) -> bool:
        """Write body bytes and wait until they leave the process; False if the client left."""
        if self.client_gone:
            return False
        self._transport.write(data)
        self.body_bytes += len(data)
        return await self._flushed()

    async def trickle(
        self, data: bytes, chunk_bytes: int, pause_s: float, deadline: float | None
    ) -> Trickled:
        """Send `data` in chunks, chunk n at start + n * pause_s, then pause once more.

        Ends "sent", "client_gone" or "deadline" (a time.monotonic() value). The pace is
        kept by timer callbacks rather than a coroutine per chunk, and slow trickles
        share their timers (see _Pacer): one write per chunk is about all a held
        connection costs. A client that stops reading holds the next chunk back until
        the kernel takes the previous one.
        """
        return await _Trickle(self, data, chunk_bytes, pause_s, deadline).run()

    async def wait_client_gone(self, limit_s: float) -> bool:
        """Wait up to `limit_s` seconds; True as soon as the client leaves."""
        if not self.client_gone and limit_s > 0:
            await asyncio.wait([self._watcher.gone], timeout=limit_s)
        if self.client_gone:
            self._mark_ended()
            return True
        return False

    async def wait_next_request(self, limit_s: float) -> Literal["spoke", "gone", "limit"]:
        """Wait up to `limit_s` seconds for the client to send bytes again or to leave."""
        watcher = self._watcher
        if not self.client_gone and not watcher.spoke.done() and limit_s > 0:
            await asyncio.wait(
                [watcher.gone, watcher.spoke], timeout=limit_s, return_when=asyncio.FIRST_COMPLETED
            )
        if self.client_gone:
            self._mark_ended()
            return "gone"
        return "spoke" if watcher.spoke.done() else "limit"

    async def end(self, how: Literal["fin", "rst", "hang"], hang_limit_s: float) -> End:
        """End the connection the way the fault says; `client_gone` if the client left first."""
        if self.client_gone:
            self._mark_ended()
            return "client_gone"
        if how == "hang":
            if await self.wait_client_gone(hang_limit_s):
                return "client_gone"
            self.close_fin()
            return "hang"
        if how == "rst":
            await self._acknowledged()
            self.close_rst()
            return "rst"
        self.close_fin()
        return "fin"

    def close_fin(self) -> None:
        """Close after the buffered bytes are sent: the kernel follows them with a FIN."""
        self._mark_ended()
        self._transport.close()

    def close_rst(self) -> None:
        """Reset the connection: with SO_LINGER 0 a close sends RST instead of FIN."""
        self._mark_ended()
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abort()

    def close_quietly(self) -> None:
        """Reset the connection without waiting for anything, for a fault cancelled at shutdown."""
        if not self._transport.is_closing():
            self.close_rst()
        self._mark_ended()

    def _mark_ended(self) -> None:
        if self._ended_at is None:
            self._ended_at = time.monotonic()

    async def _flushed(self) -> bool:
        # A client that stops reading fills the kernel buffers; the fault then waits for
        # it to read or leave, which is what a server stuck in write() would do.
        while self._transport.get_write_buffer_size() > 0 and not self.client_gone:
            writable = self._watcher.writable
            if writable.done():
                # Only if asyncio reported no pause for a non-empty buffer: recheck
                # later rather than spin.
                await asyncio.sleep(RECHECK_S)
            else:
                await writable
        return not self.client_gone

    async def _acknowledged(self) -> None:
        await self._flushed()
        deadline = time.monotonic() + ACK_WAIT_S
        pause_s = ACK_POLL_FIRST_S
        while self._unacknowledged_bytes() > 0 and time.monotonic() < deadline:
            if await self.wait_client_gone(pause_s):
                return
            pause_s = min(pause_s * 2, ACK_POLL_MAX_S)

    def _unacknowledged_bytes(self) -> int:
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])


class _Trickle:
    """The timer-driven state of one Wire.trickle call."""

    def __init__(
        self, wire: Wire, data: bytes, chunk_bytes: int, pause_s: float, deadline: float | None
    ) -> None:
        self._wire = wire
        self._data = data
        self._chunk_bytes = chunk_bytes
        self._pause_s = pause_s
        self._deadline = deadline
        self._loop = asyncio.get_running_loop()
        self._pacer = _pacer(self._loop) if pause_s >= SHARED_MIN_PAUSE_S else None
        self._done: asyncio.Future[Trickled] = self._loop.create_future()
        self._started = self._loop.time()
        self._sent_chunks = 0
        self._sent_all = False
        self._timer: asyncio.TimerHandle | None = None
        self._slot: int | None = None

    async def run(self) -> Trickled:
        gone = self._wire._watcher.gone
        gone.add_done_callback(self._on_gone)
        self._tick()
        try:
            return await self._done
        finally:
            gone.remove_done_callback(self._on_gone)
            if self._timer is not None:
                self._timer.cancel()
            if self._slot is not None and self._pacer is not None:
                self._pacer.forget(self._slot, self)

    def _on_gone(self, _: asyncio.Future[None]) -> None:
        self._wire._mark_ended()
        self._finish("client_gone")

    def _finish(self, result: Trickled) -> None:
        if not self._done.done():
            self._done.set_result(result)

    def _fail(self, error: Exception) -> None:
        if not self._done.done():
            self._done.set_exception(error)

    def _due(self) -> None:
        """The pause after a chunk is over: the next chunk, or the end of the trickle."""
        self._timer = None
        self._slot = None
        if self._sent_all:
            self._finish("sent")
        else:
            self._tick()

    def _tick(self) -> None:
        wire = self._wire
        if self._done.done():
            return
        if wire.client_gone:
            wire._mark_ended()
            self._finish("client_gone")
            return
        if self._deadline is not None and self._loop.time() >= self._deadline:
            self._finish("deadline")
            return
        if wire._transport.get_write_buffer_size() > 0:
            writable = wire._watcher.writable
            if writable.done():
                self._timer = self._loop.call_later(RECHECK_S, self._tick)
            else:
                writable.add_done_callback(lambda _: self._tick())
            return
        self._send_next()

    def _send_next(self) -> None:
        start = self._sent_chunks * self._chunk_bytes
        chunk = self._data[start : start + self._chunk_bytes]
        self._wire._transport.write(chunk)
        self._wire.body_bytes += len(chunk)
        self._sent_chunks += 1
        self._sent_all = start + self._chunk_bytes >= len(self._data)

        next_at = self._started + self._sent_chunks * self._pause_s
        if self._deadline is not None:
            next_at = min(next_at, self._deadline)
        if self._pacer is None:
            self._timer = self._loop.call_at(next_at, self._due)
        else:
            self._slot = self._pacer.wake_at(self._loop, next_at, self)


class _Pacer:
    """Timers shared by the trickles of one event loop, one per slot of SLOT_S.

    Every trickle due within the same slot wakes on the same timer callback, so a
    thousand connections held at one byte per second cost at most 1 / SLOT_S timers per
    second instead of a thousand, and no timer object per chunk. A chunk then leaves at
    most SLOT_S after it is due and never before; the pace does not drift, since chunk n
    is still due at start + n * pause_s.
    """

    def __init__(self) -> None:
        self._slots: dict[int, dict[_Trickle, None]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def wake_at(self, loop: asyncio.AbstractEventLoop, when: float, trickle: _Trickle) -> int:
        """Call `trickle._due()` at the end of the slot holding `when`; returns the slot."""
        slot = math.ceil(when / SLOT_S)
        members = self._slots.get(slot)
        if members is None:
            members = self._slots[slot] = {}
            self._timers[slot] = loop.call_at(slot * SLOT_S, self._fire, slot)
        members[trickle] = None
        return slot

    def forget(self, slot: int, trickle: _Trickle) -> None:
        """Take `trickle` out of `slot`; the slot's timer goes with its last member."""
        members = self._slots.get(slot)
        if members is None or trickle not in members:
            return
        del members[trickle]
        if not members:
            del self._slots[slot]
            self._timers.pop(slot).cancel()

    def _fire(self, slot: int) -> None:
        self._timers.pop(slot, None)
        for trickle in self._slots.pop(slot, {}):
            # One connection's failure must not stall the others due in the same slot.
            try:
                trickle._due()
            except Exception as exc:
                trickle._fail(exc)


# Trickles pausing at least SHARED_MIN_PAUSE_S between chunks share their timers (see
# _Pacer); SLOT_S late is then at most a tenth of a pause. Faster ones keep a timer each.
SLOT_S = 0.005
SHARED_MIN_PAUSE_S = 0.05
_PACERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pacer] = weakref.WeakKeyDictionary()


def _pacer(loop: asyncio.AbstractEventLoop) -> _Pacer:
    pacer = _PACERS.get(loop)
    if pacer is None:
        pacer = _PACERS[loop] = _Pacer()
    return pacer


def _no_delay(transport: asyncio.BaseTransport) -> None:
    # Nagle's algorithm would hold a lone trickled byte until the previous one is
    # acknowledged, which bends the pace a slow-body fault promises.
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return
