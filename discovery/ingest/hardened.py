"""The hardened ingest: treat every upstream response as guilty until each check clears it.

One attempt for one region:

    breaker admits? -- no --> skipped (no request at all)
        | yes
    GET /catalog?region=R (X-Region: R, If-Modified-Since: stored, clamped validator)
        |  everything below runs inside one deadline, body read included
    304 -> confirm the snapshot (checked_at only)
    200 -> throughput, length, encoding, JSON, shape, region, counts, minimum, items
        -> replace the region's snapshot in one transaction
    anything else -> failed; the previous snapshot stays

Each region has its own HTTP session (its own connection pool), so a region whose
upstream hangs or resets cannot hold or poison connections another region needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from functools import partial

import aiohttp

from discovery.breaker import BreakerPolicy, admit_stored, record_stored
from discovery.catalog import Item
from discovery.errors import IngestError
from discovery.httpdate import clamp_to_now, format_http_date, parse_http_date
from discovery.ingest import checks
from discovery.ingest.outcome import IngestOutcome, IngestSettings, Outcome
from discovery.store import SnapshotMeta, Store, load_meta, replace_snapshot, touch_snapshot

CONNECTIONS_PER_REGION = 2
# Date has whole-second resolution and the two hosts' clocks may differ slightly.
CLOCK_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class ResponseHeaders:
    """The response headers the checks rely on."""

    promised_bytes: int | None
    content_encoding: str | None
    item_count: str | None
    last_modified: str | None
    date: str | None


@dataclass(frozen=True)
class Catalog:
    """A catalog that passed every check, ready to be stored."""

    items: list[Item]
    generation: int
    last_modified: str | None
    clamped: bool


class NotModified:
    """The upstream answered 304: the cached snapshot is still its current catalog."""


NOT_MODIFIED = NotModified()


class HardenedIngestor:
    """Refreshes regions through every check and a persisted per-region breaker."""

    def __init__(
        self, store: Store, settings: IngestSettings, policy: BreakerPolicy | None = None
    ) -> None:
        self._store = store
        self._settings = settings
        self._policy = policy or BreakerPolicy(settings.trip_after, settings.cooldown_s)
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    async def refresh(self, region: str) -> IngestOutcome:
        """Fetch, check and store `region` once; upstream trouble becomes an outcome."""
        started = time.monotonic()
        outcome = await self._attempt(region)
        return dataclasses.replace(outcome, duration_s=time.monotonic() - started)

    async def close(self) -> None:
        """Close every region's session."""
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def _attempt(self, region: str) -> IngestOutcome:
        admitted = await self._store.write(partial(admit_stored, region=region, now_s=time.time()))
        if admitted is None:
            return IngestOutcome(region, Outcome.SKIPPED, "breaker_open")

        meta = await self._store.read(partial(load_meta, region=region))
        validator = meta.last_modified if meta is not None else None
        try:
            result = await fetch_catalog(self._session(region), self._settings, region, validator)
            outcome = await self._keep(region, result, meta)
        except IngestError as exc:
            await self._record(region, ok=False)
            return IngestOutcome(region, Outcome.FAILED, exc.reason, detail=exc.detail)
        await self._record(region, ok=True)
        return outcome

    async def _keep(
        self, region: str, result: Catalog | NotModified, meta: SnapshotMeta | None
    ) -> IngestOutcome:
        now = time.time()
        if isinstance(result, NotModified):
            touched = await self._store.write(
                partial(touch_snapshot, region=region, checked_at=now)
            )
            if not touched or meta is None:
                raise IngestError("status", "HTTP 304 for a region with no cached snapshot")
            return IngestOutcome(
                region, Outcome.NOT_MODIFIED, items=meta.item_count, generation=meta.generation
            )

        count = await self._store.write(
            partial(
                replace_snapshot,
                region=region,
                items=result.items,
                generation=result.generation,
                fetched_at=now,
                last_modified=result.last_modified,
            )
        )
        detail = "clock_clamped" if result.clamped else ""
        return IngestOutcome(
            region, Outcome.FETCHED, items=count, generation=result.generation, detail=detail
        )

    async def _record(self, region: str, ok: bool) -> None:
        await self._store.write(
            partial(record_stored, region=region, ok=ok, policy=self._policy, now_s=time.time())
        )

    def _session(self, region: str) -> aiohttp.ClientSession:
        session = self._sessions.get(region)
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS_PER_REGION),
                # The deadline is enforced around the whole attempt; compressed bodies are
                # decoded by the checks so that Content-Length compares wire bytes.
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
            )
            self._sessions[region] = session
        return session


async def fetch_catalog(
    session: aiohttp.ClientSession,
    settings: IngestSettings,
    region: str,
    if_modified_since: str | None,
) -> Catalog | NotModified:
    """GET and check `region`'s catalog within `settings.deadline_s`, or raise IngestError."""
    try:
        async with asyncio.timeout(settings.deadline_s):
            return await _fetch(session, settings, region, if_modified_since)
    except TimeoutError as exc:
        raise IngestError(
            "deadline", f"no complete answer within {settings.deadline_s:g} s"
        ) from exc
    except aiohttp.ClientPayloadError as exc:
        raise IngestError("incomplete_body", str(exc)) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise IngestError("transport", f"{type(exc).__name__}: {exc}") from exc


async def _fetch(
    session: aiohttp.ClientSession,
    settings: IngestSettings,
    region: str,
    if_modified_since: str | None,
) -> Catalog | NotModified:
    # A future Last-Modified is clamped to when the request left: the upstream cannot have
    # published anything later than that, and a later validator could hide the next
    # generation if it started while this response was on the wire.
    sent_at = time.time()
    url = settings.upstream_url.rstrip("/") + "/catalog"
    headers = {"X-Region": region, "Accept": "application/json", "Accept-Encoding": "gzip"}
    if if_modified_since:
        headers["If-Modified-Since"] = if_modified_since
    async with session.get(url, params={"region": region}, headers=headers) as response:
        if response.status == 304:
            return NOT_MODIFIED
        checks.check_status(response.status)
        meta = _response_headers(response)
        checks.check_promised_size(meta.promised_bytes)
        raw = await read_body(response, settings)
    checks.check_length(len(raw), meta.promised_bytes)
    return validate(raw, meta, region, settings, sent_at)


def _response_headers(response: aiohttp.ClientResponse) -> ResponseHeaders:
    return ResponseHeaders(
        promised_bytes=response.content_length,
        content_encoding=response.headers.get("Content-Encoding"),
        item_count=response.headers.get("X-Item-Count"),
        last_modified=response.headers.get("Last-Modified"),
        date=response.headers.get("Date"),
    )


async def read_body(response: aiohttp.ClientResponse, settings: IngestSettings) -> bytes:
    """Read the raw body, enforcing the size cap and the minimum throughput as bytes arrive."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.content.iter_any():
        received += len(chunk)
        checks.check_received_size(received)
        chunks.append(chunk)
        checks.check_throughput(
            received, loop.time() - started, settings.min_bytes_per_s, settings.throughput_grace_s
        )
    checks.check_throughput(
        received, loop.time() - started, settings.min_bytes_per_s, settings.throughput_grace_s
    )
    return b"".join(chunks)


def validate(
    raw: bytes, meta: ResponseHeaders, region: str, settings: IngestSettings, sent_at_s: float
) -> Catalog:
    """Run the content checks on a fully received body and return the catalog they vouch for.

    `sent_at_s` is when the request left; a Last-Modified after it is clamped to it.
    """
    document = checks.check_shape(checks.parse_json(checks.decode_body(raw, meta.content_encoding)))
    checks.check_region(document, region)
    checks.check_counts(document, meta.item_count)
    checks.check_min_items(len(document.items), settings.min_items)
    items = checks.check_items(document.items, region)

    last_modified, lm_clamped = clamp_to_now(parse_http_date(meta.last_modified), sent_at_s)
    _, date_clamped = clamp_to_now(parse_http_date(meta.date), time.time() + CLOCK_TOLERANCE_S)
    validator = None if last_modified is None else format_http_date(last_modified)
    return Catalog(items, document.generation, validator, lm_clamped or date_clamped)
