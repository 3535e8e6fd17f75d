"""The Wilson interval and the number of requests a success-rate bound needs."""

from __future__ import annotations

import math

import pytest

from analysis.confidence import Z_95, requests_needed, wilson_bounds


def test_wilson_bounds_of_a_known_case() -> None:
    lower, upper = wilson_bounds(95, 100)

    assert lower == pytest.approx(0.8882, abs=1e-4)
    assert upper == pytest.approx(0.9785, abs=1e-4)


def test_perfect_record_never_reaches_a_lower_bound_of_one() -> None:
    lower, upper = wilson_bounds(10_000, 10_000)

    assert lower < 1.0
    assert upper == 1.0


def test_no_requests_bound_nothing() -> None:
    assert wilson_bounds(0, 0) == (0.0, 1.0)


def test_requests_needed_without_failures_matches_the_closed_form() -> None:
    assert requests_needed(0, 0.995) == 765
    for rate in (0.9, 0.99, 0.999):
        assert requests_needed(0, rate) == math.ceil(rate * Z_95**2 / (1 - rate))


def test_each_failure_raises_the_requests_needed() -> None:
    counts = [requests_needed(failures, 0.995) for failures in range(4)]

    assert counts == sorted(counts)
    assert len(set(counts)) == 4
    assert wilson_bounds(counts[2] - 2, counts[2])[0] >= 0.995
    assert wilson_bounds(counts[2] - 3, counts[2] - 1)[0] < 0.995


def test_rate_of_one_cannot_be_reached() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        requests_needed(0, 1.0)
