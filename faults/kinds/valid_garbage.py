"""valid_garbage: a complete, well-formed 200 of the right shape whose items are nonsense.

Modes (the item list is `items` of a JSON object, a top-level JSON array, or the lines
of an NDJSON body, Content-Type application/x-ndjson):

    empty             no items at all
    null_ids          every item kept, its `id` null
    wrong_types       every item kept, every value of another JSON type: a string
                      becomes its length, a number its decimal text, a boolean "true" or
                      "false", null 0, an array or object its JSON text
    duplicated_items  as many items as the upstream sent, but the second half repeats
                      the first: half the real items are missing and ids repeat
    shrink            only the first keep_items (else int(n * keep_fraction)) items,
                      always fewer than the upstream sent: every item real and whole

Every top-level key but `items` is kept, and `item_count` follows the garbage. The lie
is self-consistent: Content-Length fits the garbage and X-Item-Count, when the upstream
sent one, counts the garbage items, so only a check of the content itself (a minimum
item count, ids present, typed and unique) catches it. A compressed body is decoded and
the garbage is sent uncompressed. A reply with fewer than two items has nothing to
duplicate, and one with no items nothing to shrink: it is forwarded as it is.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from multidict import CIMultiDict
from pydantic import Field

from faults.kinds.base import (
    FaultContext,
    Kind,
    Outcome,
    Params,
    complete_outcome,
    decoded_body,
)
from faults.upstream import UpstreamReply, relay

Mode = Literal["empty", "null_ids", "wrong_types", "duplicated_items", "shrink"]


class ValidGarbageParams(Params):
    """Which nonsense replaces the items; keep_* size the list of mode shrink."""

    mode: Mode = "empty"
    # For mode shrink: items kept. keep_items, when set, wins over keep_fraction; both
    # are capped at one item fewer than the upstream sent.
    keep_items: int | None = Field(default=None, ge=0)
    keep_fraction: float = Field(default=0.1, ge=0, lt=1)

    def kept_items(self, item_count: int) -> int:
        """Items of an `item_count` long list that shrink keeps: always fewer than all."""
        if self.keep_items is not None:
            return min(self.keep_items, item_count - 1)
        return int(item_count * self.keep_fraction)


def _garbled(items: list[Any], params: ValidGarbageParams) -> list[Any] | None:
    mode = params.mode
    if mode == "shrink":
        return items[: params.kept_items(len(items))] if items else None
    if mode == "empty":
        return []
    if mode == "null_ids":
        return [{**item, "id": None} if isinstance(item, dict) else item for item in items]
    if mode == "wrong_types":
        return [_wrong_type(item) for item in items]
    if len(items) < 2:
        return None
    half = (len(items) + 1) // 2
    return items[:half] + items[: len(items) - half]


def _wrong_type(item: Any) -> Any:
    if isinstance(item, dict):
        return {key: _wrong_type_value(value) for key, value in item.items()}
    return _wrong_type_value(item)


def _wrong_type_value(value: Any) -> Any:
    # bool before int: a JSON boolean is a Python int as well.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return 0
    return json.dumps(value, separators=(",", ":"))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _json_garbage(text: bytes, params: ValidGarbageParams) -> tuple[bytes, int] | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, list):
        items = _garbled(document, params)
        return None if items is None else (_dumps(items), len(items))
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        items = _garbled(document["items"], params)
        if items is None:
            return None
        garbage = {**document, "items": items}
        if "item_count" in document:
            garbage["item_count"] = len(items)
        return _dumps(garbage), len(items)
    return None


def _ndjson_garbage(text: bytes, params: ValidGarbageParams) -> tuple[bytes, int] | None:
    try:
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError:
        return None
    garbled = _garbled(items, params)
    if garbled is None:
        return None
    if not garbled:
        return b"", 0
    return b"\n".join(_dumps(item) for item in garbled) + b"\n", len(garbled)


def _is_ndjson(reply: UpstreamReply) -> bool:
    content_type = reply.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in ("application/x-ndjson", "application/ndjson", "application/jsonl")


async def inject(ctx: FaultContext, params: ValidGarbageParams) -> Outcome | None:
    """Answer with the reply's headers and a garbage body of the same shape."""
    reply = await ctx.upstream()
    text = decoded_body(reply) if reply.is_ok_with_body else None
    if text is None:
        return None
    made = (_ndjson_garbage if _is_ndjson(reply) else _json_garbage)(text, params)
    if made is None:
        return None

    body, item_count = made
    headers = CIMultiDict(reply.headers)
    headers.popall("Content-Encoding", None)
    if "X-Item-Count" in headers:
        headers["X-Item-Count"] = str(item_count)
    return complete_outcome(relay(UpstreamReply(200, reply.reason, headers, body)))


KIND = Kind(
    name="valid_garbage",
    summary="a complete 200 of the right shape: empty, null ids, wrong types, duplicates, shrunk",
    params_model=ValidGarbageParams,
    inject=inject,
)
