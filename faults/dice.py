"""Reproducible fault decisions: one seeded random stream per region.

Every request of a region in the profile takes exactly two draws from that region's
stream (whether to fault, then which kind), whatever the outcome. The faults a region
sees are therefore a function of the seed, the profile and that region's own request
sequence, and never of another region's traffic. Installing a profile starts every
stream, and every kind's occurrence count, afresh.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from faults.kinds.base import Kind, Params
from faults.profile import Profile, RegionFaults
from faults.registry import KINDS


@dataclass(frozen=True)
class Decision:
    """The fault drawn for one request; `occurrence` counts earlier draws of that kind."""

    kind: Kind[Any]
    params: Params
    occurrence: int


class RegionDice:
    """One region's seeded stream and how often each kind was drawn from it."""

    def __init__(self, seed: int, region: str, faults: RegionFaults) -> None:
        # A str seed is hashed with SHA-512 by random.Random: stable across processes
        # and Python versions, unlike hash().
        self._rng = random.Random(f"blast-radius/{seed}/{region}")
        self._faults = faults
        self._drawn: Counter[str] = Counter()

    def draw(self) -> Decision | None:
        """The fault for the next request of this region, or None to forward it."""
        roll = self._rng.random()
        index = self._rng.randrange(len(self._faults.kinds))
        if roll >= self._faults.probability:
            return None
        name = self._faults.kinds[index]
        occurrence = self._drawn[name]
        self._drawn[name] += 1
        return Decision(KINDS[name], self._faults.params[name], occurrence)


class Dice:
    """The decisions of one installed profile, for all of its regions."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self._regions = {
            region: RegionDice(seed, region, faults) for region, faults in profile.regions.items()
        }

    def draw(self, region: str | None) -> Decision | None:
        """The fault for the next request of `region`; None for regions without faults."""
        dice = self._regions.get(region) if region is not None else None
        return dice.draw() if dice is not None else None
