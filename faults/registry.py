"""The fault kinds by name: the one place a new kind is added."""

from __future__ import annotations

from typing import Any

from faults.kinds import (
    clock_skew,
    dribble_then_reset,
    flap,
    lie_length,
    slowloris,
    truncate,
    valid_garbage,
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
    )
}


def known_kinds() -> str:
    """The kind names, space-separated, for messages that list them."""
    return " ".join(KINDS)
