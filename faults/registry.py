"""The fault kinds by name: the one place a new kind is added."""

from __future__ import annotations

from typing import Any

from faults.kinds import (
    chunked_truncate,
    clock_skew,
    complete_then_close,
    dribble_then_reset,
    encoding_truncate,
    false_recovery,
    flap,
    lie_length,
    retry_after_lie,
    slowloris,
    truncate,
    unframed_truncate,
    valid_garbage,
    wrong_body_type,
)
from faults.kinds.base import Kind

KINDS: dict[str, Kind[Any]] = {
    kind.name: kind
    for kind in (
        slowloris.KIND,
        truncate.KIND,
        lie_length.KIND,
        valid_garbage.KIND,
        flap.KIND,
        clock_skew.KIND,
        dribble_then_reset.KIND,
        complete_then_close.KIND,
        chunked_truncate.KIND,
        unframed_truncate.KIND,
        encoding_truncate.KIND,
        wrong_body_type.KIND,
        retry_after_lie.KIND,
        false_recovery.KIND,
    )
}


def known_kinds() -> str:
    """The kind names, space-separated, for messages that list them."""
    return " ".join(KINDS)
