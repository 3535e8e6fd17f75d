"""Never an open proxy: requests that try to reach another host are refused or neutralized.

The proxy is a gateway to one upstream. Forwarding appends only a request's path and
query to the configured base URL (see faults.upstream), so nothing a client sends can
choose the destination; this module makes attempts to choose it visible:

    CONNECT                       405: the proxy opens no tunnels
    absolute-form target          421 Misdirected Request (RFC 9110 section 15.5.20)
    naming another authority      when it names anything but this proxy; a client only
                                  sends that form to a forward proxy (RFC 9112 3.2.2)
    Host naming another           answered from the configured upstream like any other
    authority                     request: Host never routes. It is not refused because
                                  the names a client may know the proxy by (DNS names,
                                  NAT, tunnels) cannot be listed; it is logged once per
                                  distinct value

Every refusal logs one WARNING line with the sanitized target and the client address.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from yarl import URL

from faults.ledger import sanitized_path

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
MAX_WARNED_HOSTS = 32
# RFC 9110 section 15.5.6: a 405 lists the methods the target does accept.
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


def is_loopback(host: str) -> bool:
    """True for a name or address that can only be reached from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def names_this_proxy(authority: URL, bind_host: str, local: tuple[str, int] | None) -> bool:
    """True when `authority` (host and port) is this proxy as seen on one connection."""
    if local is None or authority.host is None:
        return False
    local_host, local_port = local
    port = authority.port or DEFAULT_PORTS.get(authority.scheme, 80)
    host = authority.host.lower()
    known = is_loopback(host) or host in (local_host.lower(), bind_host.lower())
    return known and port == local_port


def _authority(text: str) -> URL | None:
    try:
        url = URL(text)
    except ValueError:
        return None
    return url if url.host else None


def _local_address(request: web.BaseRequest) -> tuple[str, int] | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return None
    return str(sockname[0]), int(sockname[1])


def _peer(request: web.BaseRequest) -> str:
    return request.remote or "unknown"


class Admission:
    """The aiohttp middleware that keeps the proxy from serving as an open proxy."""

    def __init__(self, bind_host: str) -> None:
        self.bind_host = bind_host
        self._warned_hosts: set[str] = set()
        # Clients repeat the same Host on every request: remember the good ones, bounded.
        self._good_hosts: set[tuple[str, tuple[str, int] | None]] = set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse CONNECT and foreign absolute-form targets; note foreign Host values."""
        if request.method == "CONNECT":
            return self._refuse(request, 405, "CONNECT: this proxy opens no tunnels")
        local = _local_address(request)
        target = request.raw_path
        if not target.startswith("/") and target != "*":
            authority = _authority(target)
            if authority is None or not names_this_proxy(authority, self.bind_host, local):
                reason = "absolute-form target for another host: this proxy is not open"
                return self._refuse(request, 421, reason)
        else:
            self._check_host(request, local)
        return await handler(request)

    def _refuse(self, request: web.Request, status: int, reason: str) -> web.Response:
        log.warning(
            "refused %s %s from %s: %s",
            sanitized_path(request.method),
            sanitized_path(request.raw_path),
            _peer(request),
            reason,
        )
        headers = {"Allow": ALLOWED_METHODS} if status == 405 else {}
        return web.Response(status=status, headers=headers, text=f"{reason}\n")

    def _check_host(self, request: web.Request, local: tuple[str, int] | None) -> None:
        value = request.headers.get("Host")
        if value is None or value in self._warned_hosts or (value, local) in self._good_hosts:
            return
        authority = _authority(f"http://{value}")
        if authority is not None and names_this_proxy(authority, self.bind_host, local):
            if len(self._good_hosts) < MAX_WARNED_HOSTS:
                self._good_hosts.add((value, local))
            return
        if len(self._warned_hosts) >= MAX_WARNED_HOSTS:
            return
        self._warned_hosts.add(value)
        log.warning(
            "Host %s from %s names another authority; answered from the configured upstream "
            "only (Host never routes)%s",
            sanitized_path(value),
            _peer(request),
            "; further Host values are not logged"
            if len(self._warned_hosts) == MAX_WARNED_HOSTS
            else "",
        )
