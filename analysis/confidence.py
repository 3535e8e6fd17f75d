"""How sure a success rate is: the Wilson score interval and the requests a verdict needs.

The Wilson interval (Wilson, 1927) keeps its coverage near 95 % even for rates close to
1 and for small counts, where the textbook normal interval claims a certainty it does not
have (at 200 of 200 it would claim a rate of exactly 100 %).
"""

from __future__ import annotations

import math

# The two-sided 95 % quantile of the standard normal distribution.
Z_95 = 1.959964
# 2**62 requests is beyond any storm; a search that gets there has a bug, not an answer.
MAX_REQUESTS = 1 << 62


def wilson_bounds(successes: int, requests: int, z: float = Z_95) -> tuple[float, float]:
    """(lower, upper) bounds of the success rate; (0, 1) when there were no requests."""
    if requests <= 0:
        return 0.0, 1.0
    rate = successes / requests
    z2 = z * z
    centre = (rate + z2 / (2 * requests)) / (1 + z2 / requests)
    spread = z * math.sqrt(rate * (1 - rate) / requests + z2 / (4 * requests * requests))
    half = spread / (1 + z2 / requests)
    return max(0.0, centre - half), min(1.0, centre + half)


def requests_needed(failures: int, min_rate: float, z: float = Z_95) -> int:
    """The fewest requests whose Wilson lower bound clears min_rate with `failures` failed.

    With no failure this is ceil(min_rate * z^2 / (1 - min_rate)): 765 requests for 99.5 %.
    The lower bound grows with every further success, so a doubling search followed by
    bisection finds the count.
    """
    if not 0.0 < min_rate < 1.0:
        raise ValueError(f"min_rate {min_rate} must lie strictly between 0 and 1")

    def clears(total: int) -> bool:
        return wilson_bounds(total - failures, total, z)[0] >= min_rate

    low, high = failures, max(failures + 1, 2)
    while not clears(high):
        low, high = high, high * 2
        if high > MAX_REQUESTS:
            raise ValueError(f"no request count reaches {min_rate} with {failures} failures")
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if clears(middle) else (middle, high)
    return high
