"""The hardened ingest: treat every upstream response as guilty until each check clears it.

One attempt for one region:

    breaker admits? -- no --> skipped (no request at all)
        | yes
    GET /catalog?region=R&format=ndjson (X-Region: R, If-Modified-Since: stored validator)
        |  everything below runs inside one deadline, body read included
    304 -> confirm the snapshot (checked_at only)
    200 -> content type, throughput, length, encoding trailer, JSON, counts, minimum,
           shrink, items -> replace the region's snapshot in one transaction
    429/503 with Retry-After -> the breaker opens for that long (clamped)
    anything else -> failed; the previous snapshot stays, the connection is dropped

Each region has its own HTTP session (its own connection pool), so a region whose
upstream hangs or resets cannot hold or poison connections another region needs. A
failed attempt closes its region's session: a connection that carried a reply the
checks refused may hold bytes that belong to no response (a Content-Length shorter
than the body), and must not serve the next request.

`bugs` (names from discovery.ingest.bugs) switch single defences off, the way such
code is commonly written; `--ingest naive` is this ingest with every bug on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial

import aiohttp

from discovery.breaker import BreakerPolicy, admit_stored, record_stored
from discovery.catalog import Item
from discovery.errors import IngestError, StatusError
from discovery.httpdate import clamp_to_now, format_http_date, parse_http_date
from discovery.ingest import checks
from discovery.ingest.outcome import IngestOutcome, IngestSettings, Outcome
from discovery.ingest.streaming import StreamingWriter, finish_snapshot
from discovery.store import SnapshotMeta, Store, load_meta, replace_snapshot, touch_snapshot

CONNECTIONS_PER_REGION = 2
# Date has whole-second resolution and the two hosts' clocks may differ slightly.
CLOCK_TOLERANCE_S = 2.0
WHOLE_SECOND_S = 1.0
# retry_once: the pause before the one retry of a 429 or 503.
RETRY_PAUSE_S = 0.1


@dataclass(frozen=True)
class ResponseHeaders:
    """The response headers the checks rely on."""

    promised_bytes: int | None
    content_type: str | None
    content_encoding: str | None
    item_count: str | None
    generation: str | None
    last_modified: str | None
    date: str | None


@dataclass(frozen=True)
class Clocks:
    """What the upstream's clock headers become in the cache."""

    validator: str | None  # the Last-Modified sent back as If-Modified-Since
    upstream_now_s: float | None  # trust_clocks: the upstream's Date stands for "now"
    clamped: bool


@dataclass(frozen=True)
class Catalog:
    """A catalog that passed every check, ready to be stored (or, streamed, stored)."""

    items: list[Item]
    generation: int
    clocks: Clocks
    committed: bool = False  # stream_commit: the rows are in the cache already


@dataclass(frozen=True)
class NotModified:
    """The upstream answered 304: the cached snapshot is still its current catalog."""

    clocks: Clocks


class HardenedIngestor:
    """Refreshes regions through every check and a persisted per-region breaker."""

    def __init__(
        self,
        store: Store,
        settings: IngestSettings,
        bugs: Iterable[str] = (),
        policy: BreakerPolicy | None = None,
    ) -> None:
        self.bugs = frozenset(bugs)
        self._store = store
        self._settings = settings
        self._policy = policy or BreakerPolicy(
            trip_after=settings.trip_after,
            cooldown_s=settings.cooldown_s,
            close_after=1 if "single_success_breaker" in self.bugs else 2,
            max_cooldown_s=settings.max_cooldown_s,
        )
        streams = "stream_commit" in self.bugs or settings.body_format == "ndjson"
        self._media_type = checks.NDJSON if streams else checks.JSON
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
        try:
            result = await self._fetch_with_retry(region, meta)
            outcome = await self._keep(region, result, meta)
        except IngestError as exc:
            await self._drop_session(region)
            await self._record(region, ok=False, retry_after=self._retry_after(exc))
            return IngestOutcome(region, Outcome.FAILED, exc.reason, detail=exc.detail)
        await self._record(region, ok=True)
        return outcome

    async def _fetch_with_retry(
        self, region: str, meta: SnapshotMeta | None
    ) -> Catalog | NotModified:
        try:
            return await self._fetch(region, meta)
        except StatusError as exc:
            if "retry_once" not in self.bugs or exc.status not in checks.RETRY_AFTER_STATUSES:
                raise
        # retry_once: the first answer is forgotten, and so is the outage it reported.
        await asyncio.sleep(RETRY_PAUSE_S)
        return await self._fetch(region, meta)

    def _retry_after(self, exc: IngestError) -> str | None:
        if isinstance(exc, StatusError) and "retry_once" not in self.bugs:
            return exc.retry_after
        return None

    async def _keep(
        self, region: str, result: Catalog | NotModified, meta: SnapshotMeta | None
    ) -> IngestOutcome:
        now = result.clocks.upstream_now_s or time.time()
        if isinstance(result, NotModified):
            touched = await self._store.write(
                partial(touch_snapshot, region=region, checked_at=now)
            )
            if not touched or meta is None:
                raise IngestError("status", "HTTP 304 for a region with no cached snapshot")
            return IngestOutcome(
                region, Outcome.NOT_MODIFIED, items=meta.item_count, generation=meta.generation
            )

        validator = result.clocks.validator
        if result.committed:
            write = partial(finish_snapshot, region=region, generation=result.generation)
            count = await self._store.write(partial(write, fetched_at=now, last_modified=validator))
        else:
            count = await self._store.write(
                partial(
                    replace_snapshot,
                    region=region,
                    items=result.items,
                    generation=result.generation,
                    fetched_at=now,
                    last_modified=validator,
                )
            )
        detail = "clock_clamped" if result.clocks.clamped else ""
        return IngestOutcome(
            region, Outcome.FETCHED, items=count, generation=result.generation, detail=detail
        )

    async def _record(self, region: str, ok: bool, retry_after: str | None = None) -> None:
        await self._store.write(
            partial(
                record_stored,
                region=region,
                ok=ok,
                policy=self._policy,
                now_s=time.time(),
                retry_after=retry_after,
            )
        )

    def _session(self, region: str) -> aiohttp.ClientSession:
        session = self._sessions.get(region)
        if session is None:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS_PER_REGION),
                timeout=self._client_timeout(),
                # Compressed bodies are decoded by the checks, so that Content-Length
                # compares wire bytes and a gzip trailer is looked for.
                auto_decompress=False,
            )
            self._sessions[region] = session
        return session

    def _client_timeout(self) -> aiohttp.ClientTimeout:
        deadline_s = self._settings.deadline_s
        if "no_deadline" in self.bugs:
            # Each read may take deadline_s, and a trickle never waits that long.
            return aiohttp.ClientTimeout(total=None, sock_connect=deadline_s, sock_read=deadline_s)
        # The deadline is enforced around the whole attempt, body included.
        return aiohttp.ClientTimeout(total=None)

    async def _drop_session(self, region: str) -> None:
        session = self._sessions.pop(region, None)
        if session is not None:
            await session.close()

    async def _fetch(self, region: str, meta: SnapshotMeta | None) -> Catalog | NotModified:
        """GET and check `region`'s catalog within the deadline, or raise IngestError."""
        deadline_s = None if "no_deadline" in self.bugs else self._settings.deadline_s
        try:
            async with asyncio.timeout(deadline_s):
                return await self._request(region, meta)
        except aiohttp.ServerTimeoutError as exc:
            limit_s = self._settings.deadline_s
            raise IngestError("read_timeout", f"a read waited over {limit_s:g} s") from exc
        except TimeoutError as exc:
            raise IngestError("deadline", f"no complete answer within {deadline_s} s") from exc
        except aiohttp.ClientPayloadError as exc:
            raise IngestError("incomplete_body", str(exc)) from exc
        except aiohttp.ClientResponseError as exc:
            # The HTTP parser's verdict on bytes that are no valid framing: a broken chunk
            # size line, or stray bytes after a body where a status line should start.
            raise IngestError("framing", f"{type(exc).__name__}: {exc.message[:200]}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise IngestError("transport", f"{type(exc).__name__}: {exc}") from exc

    async def _request(self, region: str, meta: SnapshotMeta | None) -> Catalog | NotModified:
        # A future Last-Modified is clamped to when the request left: the upstream cannot
        # have published anything later than that, and a later validator could hide the
        # next generation if it started while this response was on the wire.
        sent_at = time.time()
        url = self._settings.upstream_url.rstrip("/") + "/catalog"
        params = {"region": region}
        if self._media_type == checks.NDJSON:
            params["format"] = "ndjson"
        headers = {"X-Region": region, "Accept": self._media_type, "Accept-Encoding": "gzip"}
        if meta is not None and meta.last_modified:
            headers["If-Modified-Since"] = meta.last_modified

        async with self._session(region).get(url, params=params, headers=headers) as response:
            found = response_headers(response)
            if response.status == 304:
                return NotModified(self._clocks(found, sent_at))
            checks.check_status(response.status, response.headers.get("Retry-After"))
            checks.check_content_type(found.content_type, self._media_type)
            checks.check_promised_size(found.promised_bytes)
            if "stream_commit" in self.bugs:
                return await self._stream(region, response, found, meta, sent_at)
            raw = b"".join([chunk async for chunk in self._chunks(response)])
        return self._validate(raw, found, region, meta, sent_at)

    async def _chunks(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """The raw body as it arrives, under the size cap and the throughput floor."""
        floor = "no_deadline" not in self.bugs
        rate, grace = self._settings.min_bytes_per_s, self._settings.throughput_grace_s
        loop = asyncio.get_running_loop()
        started = loop.time()
        received = 0
        async for chunk in response.content.iter_any():
            received += len(chunk)
            checks.check_received_size(received)
            if floor:
                checks.check_throughput(received, loop.time() - started, rate, grace)
            yield chunk
        if floor:
            checks.check_throughput(received, loop.time() - started, rate, grace)

    def _validate(
        self,
        raw: bytes,
        found: ResponseHeaders,
        region: str,
        meta: SnapshotMeta | None,
        sent_at_s: float,
    ) -> Catalog:
        """Run the content checks on a fully received body; return the catalog they vouch for."""
        framed = "no_length_check" not in self.bugs
        if framed:
            checks.check_length(len(raw), found.promised_bytes)
        body = checks.decode_body(raw, found.content_encoding, check_trailer=framed)
        if self._media_type == checks.JSON:
            raw_items, generation = self._json_items(body, found, region)
        else:
            raw_items = checks.parse_ndjson(body, check_framing=framed)
            generation = checks.check_generation_header(found.generation)
            if framed:
                checks.check_line_count(len(raw_items), found.item_count)
        self._check_size(len(raw_items), meta)
        items = checks.check_items(raw_items, region)
        return Catalog(items, generation, self._clocks(found, sent_at_s))

    def _json_items(
        self, body: bytes, found: ResponseHeaders, region: str
    ) -> tuple[list[object], int]:
        document = checks.check_shape(checks.parse_json(body))
        checks.check_region(document, region)
        if "no_length_check" not in self.bugs:
            checks.check_counts(document, found.item_count)
        return document.items, document.generation

    def _check_size(self, item_count: int, meta: SnapshotMeta | None) -> None:
        if "no_min_items" in self.bugs:
            return
        checks.check_min_items(item_count, self._settings.min_items)
        previous = None if meta is None else meta.item_count
        checks.check_shrink(item_count, previous, self._settings.shrink_floor)

    async def _stream(
        self,
        region: str,
        response: aiohttp.ClientResponse,
        found: ResponseHeaders,
        meta: SnapshotMeta | None,
        sent_at_s: float,
    ) -> Catalog:
        """stream_commit: each line is checked and committed as it arrives; the checks of
        the whole body run at its end, after its rows are in the cache."""
        framed = "no_length_check" not in self.bugs
        generation = checks.check_generation_header(found.generation)
        decoder = checks.Decoder(found.content_encoding)
        writer = StreamingWriter(self._store, region)
        await writer.clear()
        seen: set[str] = set()
        lines, received, pending = 0, 0, b""
        async for chunk in self._chunks(response):
            received += len(chunk)
            *complete, pending = (pending + decoder.feed(chunk)).split(b"\n")
            for line in filter(bytes.strip, complete):
                item = checks.check_item(lines, checks.parse_line(lines, line), region, seen)
                await writer.add(item)
                lines += 1

        if framed:
            checks.check_length(received, found.promised_bytes)
        pending += decoder.finish(check_trailer=framed)
        if pending.strip():
            if framed:
                checks.check_last_line_ended(pending)
            item = checks.check_item(lines, checks.parse_line(lines, pending), region, seen)
            await writer.add(item)
            lines += 1
        await writer.flush()
        if framed:
            checks.check_line_count(lines, found.item_count)
        self._check_size(lines, meta)
        return Catalog([], generation, self._clocks(found, sent_at_s), committed=True)

    def _clocks(self, found: ResponseHeaders, sent_at_s: float) -> Clocks:
        """Clamp Last-Modified to min(Date, when the request left); Date only flags.

        RFC 9110 section 8.8.2.1: an origin never sends a Last-Modified later than its
        own Date. An earlier validator than the truth only costs a full fetch; a later
        one hides new generations behind 304s. A clamped validator is one second before
        the bound: HTTP dates carry whole seconds, and a generation that starts later in
        the bound's own second must still compare as newer.
        """
        date = parse_http_date(found.date)
        if "trust_clocks" in self.bugs:
            return Clocks(found.last_modified, date, clamped=False)

        bound = sent_at_s if date is None else min(sent_at_s, date)
        last_modified, lm_clamped = clamp_to_now(parse_http_date(found.last_modified), bound)
        if last_modified is not None and lm_clamped:
            last_modified -= WHOLE_SECOND_S
        _, date_clamped = clamp_to_now(date, time.time() + CLOCK_TOLERANCE_S)
        validator = None if last_modified is None else format_http_date(last_modified)
        return Clocks(validator, None, lm_clamped or date_clamped)


def response_headers(response: aiohttp.ClientResponse) -> ResponseHeaders:
    """The headers of `response` the checks read."""
    return ResponseHeaders(
        promised_bytes=response.content_length,
        content_type=response.headers.get("Content-Type"),
        content_encoding=response.headers.get("Content-Encoding"),
        item_count=response.headers.get("X-Item-Count"),
        generation=response.headers.get("X-Generation"),
        last_modified=response.headers.get("Last-Modified"),
        date=response.headers.get("Date"),
    )
