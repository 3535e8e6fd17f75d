"""valid_garbage: a complete, well-formed 200 whose items are empty or carry null ids.

JSON bodies keep every top-level key but `items` (and a matching `item_count`); NDJSON
bodies (Content-Type application/x-ndjson) become empty or keep their lines with null
ids. The lie is self-consistent: Content-Length fits the garbage and X-Item-Count, when
the upstream sent one, counts the garbage items, so only a check of the content itself
(a minimum item count, ids present) catches it. A compressed body is decoded and the
garbage is sent uncompressed.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict

from faults.kinds.base import FaultContext, Kind, Outcome, Params, complete_outcome
from faults.upstream import UpstreamReply

Mode = Literal["empty", "null_ids"]
# zlib's wbits 32 + 15: accept a zlib or a gzip header, whichever the body has.
AUTO_HEADER_WBITS = 47


class ValidGarbageParams(Params):
    """Which nonsense replaces the items."""

    mode: Mode = "empty"


def _decoded(reply: UpstreamReply) -> bytes | None:
    encoding = reply.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "identity":
        return reply.body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None
    try:
        return zlib.decompress(reply.body, wbits=AUTO_HEADER_WBITS)
    except zlib.error:
        return None


def _garbled(items: list[Any], mode: Mode) -> list[Any]:
    if mode == "empty":
        return []
    return [{**item, "id": None} if isinstance(item, dict) else item for item in items]


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_garbage(text: bytes, mode: Mode) -> tuple[bytes, int] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, list):
        items = _garbled(document, mode)
        return _dumps(items), len(items)
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        items = _garbled(document["items"], mode)
        garbage = {**document, "items": items}
        if "item_count" in document:
            garbage["item_count"] = len(items)
        return _dumps(garbage), len(items)
    return None


def _ndjson_garbage(text: bytes, mode: Mode) -> tuple[bytes, int] | None:
    try:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return None
    garbled = _garbled(items, mode)
    if not garbled:
        return b"", 0
    return b"\n".join(_dumps(item) for item in garbled) + b"\n", len(garbled)


def _is_ndjson(reply: UpstreamReply) -> bool:
    content_type = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in ("application/x-ndjson", "application/ndjson", "application/jsonl")


async def inject(ctx: FaultContext, params: ValidGarbageParams) -> Outcome | None:
    """Answer with the reply's headers and a garbage body of the same shape."""
    reply = await ctx.upstream()
    text = _decoded(reply) if reply.is_ok_with_body else None
    if text is None:
        return None
    made = (_ndjson_garbage if _is_ndjson(reply) else _json_garbage)(text, params.mode)
    if made is None:
        return None

    body, item_count = made
    headers = CIMultiDict(reply.headers)
    headers.popall("Content-Encoding", None)
    if "X-Item-Count" in headers:
        headers["X-Item-Count"] = str(item_count)
    return complete_outcome(web.Response(status=200, headers=headers, body=body))


KIND = Kind(
    name="valid_garbage",
    summary="a complete 200 of the right shape with empty items or null ids",
    params_model=ValidGarbageParams,
    inject=inject,
)
