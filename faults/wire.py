"""Raw control of one client connection, for faults that must lie below the HTTP layer.

aiohttp frames every response honestly, so a fault that promises one length and sends
another takes the connection over: it writes the status line, headers and body bytes
itself and decides how the connection ends. How it ends is the point of most faults:

    fin   close() after the bytes are flushed: the client reads EOF mid-body
    rst   SO_LINGER 0, then abort(): the client gets ECONNRESET
    hang  nothing more is sent; the connection stays open until the client leaves

Ending a short body with an ordinary end-of-response instead leaves the client waiting
for the promised bytes, which is a hang and not a truncation.

Invariants: a write never goes to a connection the client has closed, every wait ends
when the client leaves, and `body_bytes` counts exactly the body bytes handed to the
connection (including any beyond the promised length).
"""

from __future__ import annotations

import asyncio
import fcntl
import http
import socket
import struct
import termios
import time
from collections.abc import Iterable
from typing import Literal

from aiohttp import web

End = Literal["fin", "rst", "hang", "complete", "client_gone"]

POLL_S = 0.02
# How long an RST waits for the client to acknowledge the bytes already sent; the reset
# would otherwise discard them in the kernel and the client would see fewer.
ACK_WAIT_S = 1.0


class ClientGoneError(ConnectionError):
    """The client closed the connection before the fault took it over."""


class DetachedResponse(web.StreamResponse):
    """Returned to aiohttp for a connection a fault wrote itself: it must write nothing more."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class Wire:
    """One client connection, taken over from aiohttp for the rest of its life."""

    def __init__(self, request: web.BaseRequest) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ClientGoneError("the client left before the response started")
        self._transport = transport
        self.body_bytes = 0
        self._head_at = time.monotonic()
        self._ended_at: float | None = None

    @property
    def client_gone(self) -> bool:
        """True once the client closed or reset the connection."""
        return self._transport.is_closing()

    @property
    def connected_ms(self) -> float:
        """Milliseconds from the status line until the connection ended (or until now)."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        return (end - self._head_at) * 1000.0

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """Write the status line and headers exactly as given."""
        reason = http.HTTPStatus(status).phrase
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
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

    async def wait_client_gone(self, limit_s: float) -> bool:
        """Wait up to `limit_s` seconds; True as soon as the client leaves."""
        deadline = time.monotonic() + max(0.0, limit_s)
        while not self.client_gone:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                return False
            await asyncio.sleep(min(POLL_S, left_s))
        self._mark_ended()
        return True

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
        """Close without ceremony, for a fault cancelled at shutdown."""
        if not self._transport.is_closing():
            self._transport.abort()

    def _mark_ended(self) -> None:
        if self._ended_at is None:
            self._ended_at = time.monotonic()

    async def _flushed(self) -> bool:
        # A client that stops reading fills the kernel buffers; the fault then waits for
        # it to read or leave, which is what a server stuck in write() would do.
        while self._transport.get_write_buffer_size() > 0:
            if self.client_gone:
                return False
            await asyncio.sleep(POLL_S / 4)
        return not self.client_gone

    async def _acknowledged(self) -> None:
        await self._flushed()
        deadline = time.monotonic() + ACK_WAIT_S
        while self._unacknowledged_bytes() > 0 and time.monotonic() < deadline:
            if self.client_gone:
                return
            await asyncio.sleep(POLL_S / 4)

    def _unacknowledged_bytes(self) -> int:
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return 0
        try:
            raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return 0
        return int(struct.unpack("i", raw)[0])
