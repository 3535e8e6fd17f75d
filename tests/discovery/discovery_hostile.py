"""Raw-socket HTTP servers that lie, for ingest tests run with asyncio.run().

Each server answers every request with a script: honest bytes, then a lie at the wire
level (a FIN or an RST mid-body, a trickle, a hang). Truncations end with an explicit
FIN or RST, never with a normal end of response, so the client sees what a real cut
connection looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from discovery.catalog import build_catalog


@dataclass
class Seen:
    """What the server received: one request head per connection, in order."""

    heads: list[dict[str, str]] = field(default_factory=list)

    def header(self, index: int, name: str) -> str | None:
        return self.heads[index].get(name.lower())


Script = Callable[[int, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile_server(script: Script) -> AsyncIterator[tuple[str, Seen]]:
    """Serve `script(request_number, writer)` on a free loopback port; yield (url, seen)."""
    seen = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.heads.append(_parse_head(head))
            await script(len(seen.heads) - 1, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up first, which is what several tests expect
        finally:
            if not writer.transport.is_closing():
                writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)


def _parse_head(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")
    parsed = {":request": lines[0]}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    return parsed


def catalog_document(region: str = "DE", generation: int = 3, seed: int = 1) -> dict[str, Any]:
    """Return an honest JSON catalog document (as a dict to tamper with)."""
    items = build_catalog(seed, region, generation)
    return {"region": region, "generation": generation, "item_count": len(items), "items": items}


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


JSON = "application/json"
NDJSON = "application/x-ndjson"


def head(
    status: int = 200,
    headers: dict[str, str] | None = None,
    length: int | None = None,
    content_type: str = JSON,
) -> bytes:
    """Return a response head; `length` (when given) becomes Content-Length."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST instead of a FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def respond(
    body: bytes,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> Script:
    """An honest answer: full Content-Length, full body."""

    async def script(number: int, writer: asyncio.StreamWriter) -> None:
        writer.write(head(status, headers, len(body), content_type) + body)
        await writer.drain()

    return script


def cut(
    body: bytes,
    keep_fraction: float,
    end: str = "fin",
    promise_full: bool = True,
    *,
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> Script:
    """Send the head (Content-Length of the whole body unless not promised), part of the
    body, then end the connection with a FIN or an RST."""

    async def script(number: int, writer: asyncio.StreamWriter) -> None:
        length = len(body) if promise_full else None
        extra = dict(headers or {}) if promise_full else {**(headers or {}), "Connection": "close"}
        kept = body[: int(len(body) * keep_fraction)]
        writer.write(head(200, extra, length, content_type) + kept)
        await writer.drain()
        await asyncio.sleep(0.05)
        if end == "rst":
            reset(writer)
        else:
            writer.close()

    return script


def trickle(body: bytes, pieces: int, total_s: float) -> Script:
    """Send the whole body honestly framed, but in `pieces` spread over `total_s`."""

    async def script(number: int, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, None, len(body)))
        step = -(-len(body) // pieces)
        for offset in range(0, len(body), step):
            await asyncio.sleep(total_s / pieces)
            writer.write(body[offset : offset + step])
            await writer.drain()

    return script


def gzip_without_trailer(body: bytes) -> Script:
    """A gzip body, honestly framed, whose last 8 bytes (CRC and size trailer) are missing."""
    packed = gzip.compress(body)[:-8]
    return respond(packed, headers={"Content-Encoding": "gzip"})


def sequence(*scripts: Script) -> Script:
    """Answer request n with scripts[n] (the last one repeats)."""

    async def script(number: int, writer: asyncio.StreamWriter) -> None:
        await scripts[min(number, len(scripts) - 1)](number, writer)

    return script
