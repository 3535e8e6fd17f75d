"""A raw-socket HTTP/1.1 client that reports exactly what arrived and how the connection ended.

No HTTP library sits in between: headers are what the server wrote, `body` is every
byte after the header block (including bytes beyond Content-Length), and `end` is
"fin" (recv returned b""), "rst" (ConnectionResetError), "timeout" (still open when
the client gave up) or "complete" (a framed body arrived in full and reading stopped).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes
    end: str
    elapsed_s: float

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return None if value is None else int(value)

    def json(self) -> Any:
        return json.loads(self.body)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def raw_request(
    url: str,
    target: str,
    *,
    region: str | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    framed: bool = False,
    method: str = "GET",
    host_header: str | None = None,
) -> RawReply:
    """Send one request and read until FIN, RST, timeout or (if `framed`) a complete body."""
    host, port = _address(url)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header or f'{host}:{port}'}"]
    if region is not None:
        lines.append(f"X-Region: {region}")
    lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        data, end = _read(sock, started + timeout_s, framed)
    return _parse(bytes(data), end, time.monotonic() - started)


def _read(sock: socket.socket, deadline: float, framed: bool) -> tuple[bytearray, str]:
    data = bytearray()
    while True:
        left_s = deadline - time.monotonic()
        if left_s <= 0:
            return data, "timeout"
        sock.settimeout(left_s)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, "timeout"
        except ConnectionResetError:
            return data, "rst"
        if not chunk:
            return data, "fin"
        data += chunk
        if framed and _is_complete(data):
            return data, "complete"


@dataclass(frozen=True)
class Arrivals:
    """Every recv of one response: when (monotonic seconds) and how many body bytes."""

    head: bytes
    chunks: list[tuple[float, int]]
    body: bytes


def timed_request(url: str, target: str, region: str, duration_s: float) -> Arrivals:
    """Send one GET and note the arrival time of every body recv for `duration_s` seconds."""
    host, port = _address(url)
    request = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nX-Region: {region}\r\n\r\n"
    data = bytearray()
    chunks: list[tuple[float, int]] = []
    head_bytes = -1
    deadline = time.monotonic() + duration_s
    with socket.create_connection((host, port), timeout=DEFAULT_TIMEOUT_S) as sock:
        sock.sendall(request.encode("latin-1"))
        while (left_s := deadline - time.monotonic()) > 0:
            sock.settimeout(left_s)
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            if head_bytes < 0 and b"\r\n\r\n" in data:
                head_bytes = data.index(b"\r\n\r\n") + 4
                chunk = bytes(data[head_bytes:])
            if head_bytes >= 0 and chunk:
                chunks.append((time.monotonic(), len(chunk)))
    assert head_bytes >= 0, "no header block arrived"
    return Arrivals(bytes(data[:head_bytes]), chunks, bytes(data[head_bytes:]))


def two_requests_on_one_connection(
    url: str, first: str, second: str, region: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[RawReply, bytes, str]:
    """GET `first`, read its framed reply, GET `second` on the same connection.

    Returns the first reply (its framed body only), every byte the client then reads as
    the answer to `second` (including bytes that arrived beyond the first body's
    Content-Length) and how the connection ended.
    """
    host, port = _address(url)
    template = "GET {} HTTP/1.1\r\nHost: {}:{}\r\nX-Region: {}\r\n\r\n"
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(template.format(first, host, port, region).encode("latin-1"))
        data, end = _read(sock, started + timeout_s, framed=True)
        reply = _parse(bytes(data), end, time.monotonic() - started)
        framed_bytes = len(data) - len(reply.body) + (reply.content_length or 0)
        beyond = bytes(data[framed_bytes:])
        sock.sendall(template.format(second, host, port, region).encode("latin-1"))
        rest, end = _read(sock, time.monotonic() + timeout_s, framed=False)
    framed_reply = RawReply(
        reply.status, reply.headers, reply.body[: reply.content_length], end, reply.elapsed_s
    )
    return framed_reply, beyond + bytes(rest), end


def _is_complete(data: bytearray) -> bool:
    head, separator, body = bytes(data).partition(b"\r\n\r\n")
    if not separator:
        return False
    status_line, *header_lines = head.split(b"\r\n")
    if status_line.split()[1] in (b"204", b"304"):
        return True
    for line in header_lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def _parse(data: bytes, end: str, elapsed_s: float) -> RawReply:
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no complete header block arrived (end={end}, {len(data)} bytes)"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawReply(int(status_line.split()[1]), headers, body, end, elapsed_s)


def http_json(
    url: str, method: str = "GET", payload: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """A control-API call: (status, decoded JSON or text body)."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=DEFAULT_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
