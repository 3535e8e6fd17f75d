"""blast_radius.png: success rate and p95 per region, the target highlighted.

The figure is drawn on matplotlib's Agg canvas without pyplot, so no global figure state
or GUI backend is involved when the analysis runs inside a Locust process.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.thresholds import Thresholds

CLEAN_COLOUR = "#4c72b0"
TARGET_COLOUR = "#dd8452"
BOUND_COLOUR = "#c44e52"


def render_png(
    records: Sequence[Mapping[str, Any]], thresholds: Thresholds, target: str, verdict: str
) -> bytes:
    """The two bar charts side by side, as PNG bytes."""
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    success_axes, p95_axes = figure.subplots(1, 2)
    regions = [str(record["region"]) for record in records]
    colours = [TARGET_COLOUR if region == target else CLEAN_COLOUR for region in regions]

    rates = [_percent_or_none(record["success_rate"]) for record in records]
    _bars(success_axes, regions, rates, colours, "success rate (%)")
    success_axes.axhline(
        thresholds.clean_min_success_rate * 100,
        color=BOUND_COLOUR,
        linestyle="--",
        label=f"clean minimum {thresholds.clean_min_success_rate:.1%}",
    )
    success_axes.set_ylim(0, 110)

    latencies = [record["p95_ms"] for record in records]
    _bars(p95_axes, regions, latencies, colours, "p95 (ms)")
    p95_axes.axhline(
        thresholds.clean_p95_ms, color=BOUND_COLOUR, linestyle="--", label="clean bound"
    )
    p95_axes.axhline(
        thresholds.target_p95_ms, color=TARGET_COLOUR, linestyle=":", label="target bound"
    )

    # A trickle can push the target's p95 to tens of seconds: without a log scale the
    # clean regions' bars would vanish; symlog keeps a zero (no data) drawable.
    p95_axes.set_yscale("symlog", linthresh=10)
    tallest_ms = max([thresholds.target_p95_ms, *(v for v in latencies if v is not None)])
    p95_axes.set_ylim(0, tallest_ms * 3)
    p95_axes.set_title("p95 (ms, log scale)")

    for axes in (success_axes, p95_axes):
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize="small")
    figure.suptitle(f"blast radius: target {target} (orange), verdict {verdict}")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _bars(
    axes: Axes,
    regions: Sequence[str],
    values: Sequence[float | None],
    colours: Sequence[str],
    title: str,
) -> None:
    """Bars with their value on top; a region without data shows "n/a" instead of a bar."""
    heights = [0.0 if value is None else float(value) for value in values]
    bars = axes.bar(regions, heights, color=colours)
    labels = ["n/a" if value is None else f"{value:.4g}" for value in values]
    axes.bar_label(bars, labels=labels, fontsize="x-small", padding=2)
    axes.set_title(title)


def _percent_or_none(rate: object) -> float | None:
    return rate * 100 if isinstance(rate, float) else None
