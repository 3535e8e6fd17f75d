"""The hardened ingest's defences: one small check per way an upstream can lie.

Each check either returns the value it vouched for or raises IngestError with a stable
reason name. A response reaches the cache only after every check has passed, so a lie
costs freshness (the previous snapshot stays) and never correctness.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import TypeGuard

from discovery.catalog import Item
from discovery.errors import IngestError, StatusError

MAX_BODY_BYTES = 4 * 1024 * 1024
# zlib window bits accepting a gzip or a zlib header (RFC 1952 / RFC 1950).
GZIP_OR_ZLIB_WBITS = 32 + zlib.MAX_WBITS
JSON = "application/json"
NDJSON = "application/x-ndjson"
RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True)
class CatalogDocument:
    """The top level of a catalog body, after its shape was checked."""

    region: str
    generation: int
    item_count: int
    items: list[object]


def check_status(status: int, retry_after: str | None) -> None:
    """Only a 200 carries a catalog (a 304 is handled before this check).

    A 429 or 503 keeps its Retry-After (RFC 9110 section 10.2.3) for the breaker.
    """
    if status != 200:
        kept = retry_after if status in RETRY_AFTER_STATUSES else None
        raise StatusError(status, kept)


def check_content_type(content_type: str | None, expected: str) -> None:
    """The body must be the media type asked for: an HTML error page is not a catalog."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != expected:
        shown = repr(content_type[:60]) if content_type else "missing"
        raise IngestError("content_type", f"Content-Type {shown}, asked for {expected}")


def check_promised_size(promised_bytes: int | None) -> None:
    """Refuse before reading a body whose announced size could never be a catalog."""
    if promised_bytes is not None and promised_bytes > MAX_BODY_BYTES:
        raise IngestError("too_large", f"Content-Length {promised_bytes} > {MAX_BODY_BYTES}")


def check_received_size(received_bytes: int) -> None:
    """Stop reading a body that keeps growing past any plausible catalog."""
    if received_bytes > MAX_BODY_BYTES:
        raise IngestError("too_large", f"body passed {MAX_BODY_BYTES} bytes")


def check_throughput(
    received_bytes: int, elapsed_s: float, min_bytes_per_s: float, grace_s: float
) -> None:
    """Reject a body arriving slower than `min_bytes_per_s` once `grace_s` has passed.

    The deadline alone lets a trickle that finishes just before it pass and hold an
    ingest worker for nearly the whole deadline on every cycle.
    """
    if elapsed_s < grace_s:
        return
    rate = received_bytes / elapsed_s
    if rate < min_bytes_per_s:
        raise IngestError(
            "throughput",
            f"{received_bytes} bytes in {elapsed_s:.2f} s = {rate:.0f} B/s "
            f"< {min_bytes_per_s:.0f} B/s",
        )


def check_length(received_bytes: int, promised_bytes: int | None) -> None:
    """The bytes that arrived must be exactly the bytes Content-Length promised."""
    if promised_bytes is not None and received_bytes != promised_bytes:
        raise IngestError(
            "length", f"received {received_bytes} bytes, Content-Length promised {promised_bytes}"
        )


class Decoder:
    """Undoes a Content-Encoding chunk by chunk, with the body size cap on its output.

    `finish(check_trailer=True)` insists the compressed stream ended with its trailer
    (gzip's CRC and length, RFC 1952 section 2.3.1): zlib happily returns what it has
    of a stream cut short, and aiohttp's own decoder does not look for the trailer.
    """

    def __init__(self, content_encoding: str | None) -> None:
        self.encoding = (content_encoding or "identity").strip().lower() or "identity"
        if self.encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise IngestError("encoding", f"unsupported Content-Encoding {self.encoding!r}")
        self._zlib = None if self.encoding == "identity" else zlib.decompressobj(GZIP_OR_ZLIB_WBITS)
        self._size = 0

    def feed(self, raw: bytes) -> bytes:
        """Return the decoded bytes of the next raw chunk."""
        if self._zlib is None:
            return self._counted(raw)
        try:
            return self._counted(self._zlib.decompress(raw, MAX_BODY_BYTES + 1 - self._size))
        except zlib.error as exc:
            raise IngestError("encoding", f"corrupt {self.encoding} body: {exc}") from exc

    def finish(self, check_trailer: bool) -> bytes:
        """Return what is left; with `check_trailer`, refuse a stream cut before its end."""
        if self._zlib is None:
            return b""
        if check_trailer and not self._zlib.eof:
            raise IngestError("encoding", f"{self.encoding} body ends before its trailer")
        return self._counted(self._zlib.flush())

    def _counted(self, decoded: bytes) -> bytes:
        self._size += len(decoded)
        check_received_size(self._size)
        return decoded


def decode_body(raw: bytes, content_encoding: str | None, check_trailer: bool = True) -> bytes:
    """Undo gzip/deflate of a whole body and (by default) insist its trailer arrived."""
    decoder = Decoder(content_encoding)
    return decoder.feed(raw) + decoder.finish(check_trailer)


def parse_json(body: bytes) -> object:
    """Parse the body as JSON; a cut or garbled body fails here."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestError("json", f"body is not JSON: {exc}") from exc


def parse_ndjson(body: bytes, check_framing: bool = True) -> list[object]:
    """Parse one JSON value per line; with `check_framing`, the last line must be ended.

    A body cut inside a line mostly fails to parse; one cut just before a line's
    newline would parse, and only the missing newline tells.
    """
    if check_framing:
        check_last_line_ended(body)
    return [parse_line(number, line) for number, line in enumerate(body.splitlines()) if line]


def check_last_line_ended(body: bytes) -> None:
    """Every NDJSON line ends with a newline; a body that does not was cut in a line."""
    if body.strip() and not body.endswith(b"\n"):
        raise IngestError("json", "the last NDJSON line has no newline: the body was cut")


def parse_line(number: int, line: bytes) -> object:
    """Parse NDJSON line `number` (counted from 0)."""
    try:
        return json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestError("json", f"NDJSON line {number} is not JSON: {exc}") from exc


def check_generation_header(text: str | None) -> int:
    """An NDJSON catalog has no envelope: X-Generation carries its generation."""
    value = (text or "").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise IngestError("shape", f"X-Generation {text!r} is not a whole number")
    return int(value)


def check_line_count(lines: int, header_count: str | None) -> None:
    """X-Item-Count is the only count an NDJSON body has: it must be sent and match."""
    if header_count is None:
        raise IngestError("count", "no X-Item-Count: nothing says the stream is whole")
    if header_count.strip() != str(lines):
        raise IngestError("count", f"X-Item-Count says {header_count!r}, {lines} lines arrived")


def check_shape(document: object) -> CatalogDocument:
    """The body must be `{"region": str, "generation": int, "item_count": int, "items": []}`."""
    if not isinstance(document, dict):
        raise IngestError("shape", f"top level is {type(document).__name__}, not an object")
    region, generation = document.get("region"), document.get("generation")
    item_count, items = document.get("item_count"), document.get("items")
    if not isinstance(region, str):
        raise IngestError("shape", "field 'region' is missing or not a string")
    if not _is_count(generation) or not _is_count(item_count):
        raise IngestError("shape", "fields 'generation' and 'item_count' must be integers >= 0")
    if not isinstance(items, list):
        raise IngestError("shape", "field 'items' is missing or not a list")
    return CatalogDocument(region, generation, item_count, items)


def _is_count(value: object) -> TypeGuard[int]:
    # bool is an int subclass; `true` is not a generation.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_region(document: CatalogDocument, region: str) -> None:
    """The catalog must be the one asked for, not another region's."""
    if document.region != region:
        raise IngestError("region", f"asked for {region}, got a catalog of {document.region!r}")


def check_counts(document: CatalogDocument, header_count: str | None) -> None:
    """item_count, the X-Item-Count header (when sent) and the items must all agree."""
    actual = len(document.items)
    if document.item_count != actual:
        raise IngestError("count", f"item_count says {document.item_count}, items has {actual}")
    if header_count is not None and header_count.strip() != str(actual):
        raise IngestError("count", f"X-Item-Count says {header_count!r}, items has {actual}")


def check_min_items(item_count: int, min_items: int) -> None:
    """A real region never publishes fewer than `min_items`; fewer means garbage."""
    if item_count < min_items:
        raise IngestError("too_few_items", f"{item_count} items < minimum {min_items}")


def check_shrink(item_count: int, previous_count: int | None, floor: float) -> None:
    """Refuse a catalog smaller than `floor` times the region's last stored snapshot.

    Garbage can be self-consistent and still above the absolute minimum: a list cut to a
    third with its counts rewritten. The trade-off: a real catalog that loses more than
    that share at once is refused too, and the region serves its last snapshot (stale,
    its age growing) until the floor is lowered (`--shrink-floor 0` turns it off). It
    compares with the last snapshot only, so a slow decline passes step by step.
    """
    if previous_count and floor > 0 and item_count < previous_count * floor:
        raise IngestError(
            "shrink",
            f"{item_count} items < {floor:g} x the {previous_count} of the last snapshot",
        )


def check_items(items: list[object], region: str) -> list[Item]:
    """Every item needs non-empty string id and title, a string description, the right
    region, and an id no other item has."""
    seen: set[str] = set()
    return [check_item(index, raw, region, seen) for index, raw in enumerate(items)]


def check_item(index: int, raw: object, region: str, seen: set[str]) -> Item:
    """Check item `index` and that its id is not in `seen` (then add it there)."""
    item = _check_item(index, raw, region)
    if item["id"] in seen:
        raise IngestError("duplicate_id", f"item {index}: id {item['id']!r} repeats")
    seen.add(item["id"])
    return item


def _check_item(index: int, raw: object, region: str) -> Item:
    if not isinstance(raw, dict):
        raise IngestError("item", f"item {index} is {type(raw).__name__}, not an object")
    item_id, title = raw.get("id"), raw.get("title")
    description, item_region = raw.get("description", ""), raw.get("region")
    for name, value in (("id", item_id), ("title", title)):
        if not isinstance(value, str) or not value.strip():
            raise IngestError("item", f"item {index}: {name} {value!r} is not a non-empty string")
    if not isinstance(description, str):
        raise IngestError("item", f"item {index}: description is not a string")
    if item_region != region:
        raise IngestError("region", f"item {index} belongs to {item_region!r}, not {region}")
    return Item(id=str(item_id), title=str(title), region=region, description=description)
