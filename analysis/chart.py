"""blast_radius.png: each region's success rate, p95 and staleness over time.

The timeline comes from Locust's full history (`PREFIX_stats_history.csv`, one row per
name per second with cumulative counts and the p95 of the last seconds): per region and
time bucket, requests and failures are the growth of the cumulative counts and the p95
is the largest of the region's names, as in the verdict. Buckets widen with the run so
that every line has at most MAX_POINTS points, however long the storm. The fault window
is shaded and the target drawn on top in its own colour. Without a history (runs of
Locust without --csv-full-history) the chart shows whole-run bars per region instead.

The figure is drawn on matplotlib's Agg canvas without pyplot, so no global figure state
or GUI backend is involved when the analysis runs inside a Locust process.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from analysis.facts import RegionFacts
from analysis.inputs import Recovery, RunInfo
from analysis.names import WHOLE_RUN
from analysis.thresholds import Thresholds

MAX_POINTS = 400
TARGET_COLOUR = "#d1495b"
# Muted, distinct colours for the clean regions: they are the background of the story.
CLEAN_COLOURS = ("#4c72b0", "#55a868", "#8172b2", "#937860", "#64b5cd", "#8c8c8c", "#ccb974")
BOUND_COLOUR = "#555555"
FAULT_SHADE = "#f4cccc"
# The success axis is drawn in "nines": 90, 99, 99.9 % are evenly spaced, so a clean region
# losing half a percent is as visible as the target losing half its requests.
NINES_EPSILON = 0.01
SUCCESS_TICKS = (0.0, 90.0, 99.0, 99.9, 100.0)
TIME_UNITS = ((15 * 60, 1.0, "s"), (15 * 3600, 60.0, "min"), (math.inf, 3600.0, "h"))


@dataclass(frozen=True)
class Timeline:
    """Per region and bucket: success %, p95 ms and staleness p95 s, against time."""

    start_s: float
    bucket_s: float
    success: pd.DataFrame  # index bucket start (s from start_s), one column per region
    p95_ms: pd.DataFrame
    staleness_s: pd.DataFrame


@dataclass(frozen=True)
class ChartContext:
    target: str
    verdict: str
    thresholds: Thresholds
    run_info: RunInfo | None
    recovery: Recovery | None


def render_png(
    history: pd.DataFrame | None, facts: Sequence[RegionFacts], context: ChartContext
) -> bytes:
    """The timeline when the run kept a history, else whole-run bars; PNG bytes."""
    if history is not None and not history.empty:
        figure = _timeline_figure(build_timeline(history), facts, context)
    else:
        figure = _bars_figure(facts, context)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def build_timeline(history: pd.DataFrame) -> Timeline:
    """Bucketed series from the history's cumulative counts, vectorized over all rows."""
    start_s = float(history["time"].min())
    span_s = float(history["time"].max()) - start_s
    bucket_s = float(max(1, math.ceil(span_s / MAX_POINTS)))
    bucket = ((history["time"] - start_s) // bucket_s * bucket_s).astype("float64")
    by_name = history.groupby("name_code", sort=False)
    # A name's first row counts every request it had until then; a restart never goes back.
    grown = history[["requests", "failures"]] - by_name[["requests", "failures"]].shift(1)
    grown = grown.fillna(history[["requests", "failures"]]).clip(lower=0)
    frame = pd.DataFrame(
        {
            "region": history["region"],
            "bucket": bucket,
            "requests": grown["requests"],
            "failures": grown["failures"],
            # Locust writes 0 for a window without requests: not a latency of 0 ms.
            "p95_ms": history["p95_ms"].where(history["p95_ms"] > 0),
        }
    )
    reads = frame[~history["staleness"].to_numpy()]
    sums = reads.groupby(["bucket", "region"], observed=True).agg(
        requests=("requests", "sum"), failures=("failures", "sum"), p95_ms=("p95_ms", "max")
    )
    served = sums["requests"].where(sums["requests"] > 0)
    success = (100.0 * (1.0 - sums["failures"] / served)).unstack("region")
    stale = frame[history["staleness"].to_numpy()]
    staleness = stale.groupby(["bucket", "region"], observed=True)["p95_ms"].max() / 1000.0
    return Timeline(
        start_s=start_s,
        bucket_s=bucket_s,
        success=success,
        p95_ms=sums["p95_ms"].unstack("region"),
        staleness_s=staleness.unstack("region") if len(staleness) else pd.DataFrame(),
    )


def _timeline_figure(timeline: Timeline, facts: Sequence[RegionFacts], ctx: ChartContext) -> Figure:
    panels = 3 if not timeline.staleness_s.empty else 2
    figure = Figure(figsize=(12, 2.9 * panels + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(panels, 1, sharex=True)
    span_s = max(timeline.success.index.max() if len(timeline.success) else 0.0, 1.0)
    scale, unit = _time_unit(span_s)
    regions = [region.region for region in facts]
    colours = _colours(regions, ctx.target)

    _draw_lines(axes[0], timeline.success, regions, colours=colours, target=ctx.target, scale=scale)
    _success_axis(axes[0], ctx.thresholds.clean.min_success_rate)
    _draw_lines(axes[1], timeline.p95_ms, regions, colours=colours, target=ctx.target, scale=scale)
    _p95_axis(axes[1], timeline.p95_ms, ctx.thresholds)
    if panels == 3:
        _draw_lines(
            axes[2], timeline.staleness_s, regions, colours=colours, target=ctx.target, scale=scale
        )
        _staleness_axis(axes[2], ctx.thresholds.clean.staleness_p95_s)

    for index, panel in enumerate(axes):
        _shade_phases(panel, ctx, timeline.start_s, scale, labelled=index == 0)
        panel.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
        panel.set_xlim(0, span_s / scale)
    _label_phases(axes[0], ctx, timeline.start_s, scale)
    axes[-1].set_xlabel(
        f"time since the first sample ({unit}; one point per {timeline.bucket_s:g} s)"
    )
    legend: dict[str, Any] = {}
    for panel in axes:
        for handle, label in zip(*panel.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    figure.legend(
        list(legend.values()),
        list(legend),
        loc="outside right center",
        fontsize="small",
        frameon=False,
    )
    figure.suptitle(_title(ctx), fontsize="large", fontweight="bold")
    return figure


def _colours(regions: Sequence[str], target: str) -> dict[str, str]:
    clean = [region for region in regions if region != target]
    colours = {region: CLEAN_COLOURS[i % len(CLEAN_COLOURS)] for i, region in enumerate(clean)}
    colours[target] = TARGET_COLOUR
    return colours


def _draw_lines(
    axes: Axes,
    series: pd.DataFrame,
    regions: Sequence[str],
    *,
    colours: dict[str, str],
    target: str,
    scale: float,
) -> None:
    """Clean regions thin and underneath, the target thick and on top."""
    for region in sorted(regions, key=lambda name: name == target):
        is_target = region == target
        values = series[region] if region in series.columns else pd.Series(dtype="float64")
        axes.plot(
            (values.index.to_numpy(dtype="float64")) / scale,
            values.to_numpy(dtype="float64"),
            color=colours[region],
            linewidth=2.4 if is_target else 1.1,
            alpha=1.0 if is_target else 0.85,
            zorder=3 if is_target else 2,
            label=f"{region} (target)" if is_target else region,
        )


def _success_axis(axes: Axes, min_rate: float) -> None:
    def forward(values: np.ndarray) -> np.ndarray:
        return np.asarray(-np.log10(np.clip(100.0 - values, 0.0, 100.0) + NINES_EPSILON))

    def inverse(values: np.ndarray) -> np.ndarray:
        return np.asarray(100.0 + NINES_EPSILON - np.power(10.0, -values))

    axes.set_yscale("function", functions=(forward, inverse))
    axes.set_ylim(0.0, 100.0)
    axes.yaxis.set_major_locator(FixedLocator(SUCCESS_TICKS))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_locator(FixedLocator([]))
    axes.axhline(
        min_rate * 100,
        color=BOUND_COLOUR,
        linestyle="--",
        linewidth=1.0,
        label=f"clean minimum {min_rate:.1%}",
    )
    axes.set_ylabel("success %\n(in nines)")


def _p95_axis(axes: Axes, p95_ms: pd.DataFrame, thresholds: Thresholds) -> None:
    # A trickle can push the target's p95 to tens of seconds: only a log scale keeps the
    # clean regions' few milliseconds readable beside it.
    axes.set_yscale("log")
    axes.axhline(
        thresholds.clean.p95_ms,
        color=BOUND_COLOUR,
        linestyle="--",
        linewidth=1.0,
        label=f"clean p95 bound {thresholds.clean.p95_ms:g} ms",
    )
    axes.axhline(
        thresholds.target.p95_ms,
        color=TARGET_COLOUR,
        linestyle=":",
        linewidth=1.2,
        label=f"target p95 bound {thresholds.target.p95_ms:g} ms",
    )
    measured = p95_ms.to_numpy(dtype="float64")
    measured = measured[np.isfinite(measured) & (measured > 0)]
    low = min(float(measured.min()) if measured.size else 1.0, thresholds.clean.p95_ms)
    high = max(float(measured.max()) if measured.size else 1.0, thresholds.target.p95_ms)
    axes.set_ylim(max(low / 2, 0.1), high * 2)
    axes.set_ylabel("read p95 ms\n(log)")


def _staleness_axis(axes: Axes, bound_s: float) -> None:
    axes.axhline(
        bound_s,
        color=BOUND_COLOUR,
        linestyle="-.",
        linewidth=1.0,
        label=f"clean staleness bound {bound_s:g} s",
    )
    axes.set_ylim(bottom=0)
    axes.set_ylabel("snapshot age p95 s")


def _shade_phases(
    axes: Axes, ctx: ChartContext, start_s: float, scale: float, labelled: bool
) -> None:
    window = ctx.run_info.span("fault") if ctx.run_info else None
    if window is not None:
        axes.axvspan(
            (window[0] - start_s) / scale,
            (window[1] - start_s) / scale,
            color=FAULT_SHADE,
            alpha=0.6,
            zorder=0,
            linewidth=0,
            label="fault window" if labelled else None,
        )
    recovery = ctx.recovery
    if recovery is not None and recovery.recovered_at is not None:
        axes.axvline(
            (recovery.recovered_at - start_s) / scale,
            color=TARGET_COLOUR,
            linestyle="-.",
            linewidth=1.0,
            zorder=1,
        )


def _label_phases(axes: Axes, ctx: ChartContext, start_s: float, scale: float) -> None:
    """Phase names above the top panel, and where the target healed."""
    if ctx.run_info is None:
        return
    transform = axes.get_xaxis_transform()
    for span in ctx.run_info.phases or []:
        if span.start is None or span.end is None:
            continue
        middle = ((span.start + span.end) / 2 - start_s) / scale
        axes.text(
            middle,
            1.01,
            span.name,
            transform=transform,
            ha="center",
            va="bottom",
            fontsize="small",
            color="#444444",
        )
    recovery = ctx.recovery
    if recovery is not None and recovery.recovered_at is not None:
        x = (recovery.recovered_at - start_s) / scale
        axes.text(
            x,
            0.03,
            f" {ctx.target} healed",
            transform=transform,
            ha="left",
            va="bottom",
            fontsize="small",
            color=TARGET_COLOUR,
        )


def _title(ctx: ChartContext) -> str:
    title = f"blast radius: faults in {ctx.target}, verdict {ctx.verdict}"
    recovery = ctx.recovery
    if recovery is not None and recovery.recovered_after_s is not None:
        title += f"; {ctx.target} healed {recovery.recovered_after_s:.1f} s after the faults"
    elif recovery is not None:
        title += f"; {ctx.target} not healed after {recovery.watched_s or 0:.0f} s"
    return title


def _time_unit(span_s: float) -> tuple[float, str]:
    return next((scale, unit) for limit, scale, unit in TIME_UNITS if span_s <= limit)


# -- without a history -----------------------------------------------------------------


def _bars_figure(facts: Sequence[RegionFacts], ctx: ChartContext) -> Figure:
    """Whole-run success and p95 per region, side by side."""
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    success_axes, p95_axes = figure.subplots(1, 2)
    regions = [region.region for region in facts]
    colours = [TARGET_COLOUR if region == ctx.target else CLEAN_COLOURS[0] for region in regions]
    whole = [region.phase(WHOLE_RUN) for region in facts]

    rates = [None if s.success_rate is None else s.success_rate * 100 for s in whole]
    _bars(success_axes, regions, rates, colours, "success rate (%), whole run")
    success_axes.axhline(
        ctx.thresholds.clean.min_success_rate * 100,
        color=BOUND_COLOUR,
        linestyle="--",
        label="clean minimum",
    )
    success_axes.set_ylim(0, 110)

    latencies = [s.p95_ms for s in whole]
    _bars(p95_axes, regions, latencies, colours, "p95 (ms, log scale), whole run")
    p95_axes.axhline(
        ctx.thresholds.clean.p95_ms, color=BOUND_COLOUR, linestyle="--", label="clean bound"
    )
    p95_axes.axhline(
        ctx.thresholds.target.p95_ms, color=TARGET_COLOUR, linestyle=":", label="target bound"
    )
    # symlog keeps a region without data (0) drawable beside a target of tens of seconds.
    p95_axes.set_yscale("symlog", linthresh=10)
    tallest_ms = max([ctx.thresholds.target.p95_ms, *(v for v in latencies if v is not None)])
    p95_axes.set_ylim(0, tallest_ms * 3)

    for axes in (success_axes, p95_axes):
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, fontsize="small")
    figure.suptitle(_title(ctx) + " (no stats history: whole-run bars)")
    return figure


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
