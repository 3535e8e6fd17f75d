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
from discovery.errors import IngestError

MAX_BODY_BYTES = 4 * 1024 * 1024
# zlib window bits accepting a gzip or a zlib header (RFC 1952 / RFC 1950).
GZIP_OR_ZLIB_WBITS = 32 + zlib.MAX_WBITS


@dataclass(frozen=True)
class CatalogDocument:
    """The top level of a catalog body, after its shape was checked."""

    region: str
    generation: int
    item_count: int
    items: list[object]


def check_status(status: int) -> None:
    """Only a 200 carries a catalog (a 304 is handled before this check)."""
    if status != 200:
        raise IngestError("status", f"upstream answered HTTP {status}")


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


def decode_body(raw: bytes, content_encoding: str | None) -> bytes:
    """Undo gzip/deflate and insist the compressed stream was complete (trailer included)."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise IngestError("encoding", f"unsupported Content-Encoding {encoding!r}")
    decompressor = zlib.decompressobj(GZIP_OR_ZLIB_WBITS)
    try:
        body = decompressor.decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error as exc:
        raise IngestError("encoding", f"corrupt {encoding} body: {exc}") from exc
    check_received_size(len(body))
    if not decompressor.eof:
        raise IngestError("encoding", f"{encoding} body ends before its trailer")
    return body


def parse_json(body: bytes) -> object:
    """Parse the body as JSON; a cut or garbled body fails here."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestError("json", f"body is not JSON: {exc}") from exc


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


def check_items(items: list[object], region: str) -> list[Item]:
    """Every item needs non-empty string id and title, a string description, the right
    region, and an id no other item has."""
    checked: list[Item] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        item = _check_item(index, raw, region)
        if item["id"] in seen:
            raise IngestError("duplicate_id", f"item {index}: id {item['id']!r} repeats")
        seen.add(item["id"])
        checked.append(item)
    return checked


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
