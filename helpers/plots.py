"""Plots of the workshop, drawn with matplotlib from pandas tables.

Each function takes the table a helper returned (see :mod:`helpers.invocation_log`
and :mod:`helpers.lambda_metrics`), draws labelled axes with units and a title, and
shows the figure in a notebook (returning ``None`` there, so nothing is drawn
twice); outside IPython it returns the :class:`~matplotlib.figure.Figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from helpers.lambda_metrics import METRIC_UNITS

OK_COLOR = "#2b7bba"
ERROR_COLOR = "#d6604d"
COLD_COLOR = "#f4a582"


def _show(fig: Figure) -> Figure | None:
    fig.tight_layout()
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return fig
    if get_ipython() is None:
        return fig
    from IPython.display import display

    display(fig)
    plt.close(fig)
    return None


def _seconds_from_first(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times, utc=True)
    return (times - times.min()).dt.total_seconds()


def _time_label(index: pd.Index) -> str:
    if len(index) == 0:
        return "time (s)"
    return f"seconds after {pd.Timestamp(index.min()):%H:%M:%S} UTC"


def _empty(ax: plt.Axes, text: str = "no data yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _legend(ax: plt.Axes, entries: Sequence[tuple[str, str]]) -> None:
    ax.legend(
        handles=[Patch(color=color, label=label) for label, color in entries], loc="upper right"
    )


def _failed(errors: pd.Series) -> list[bool]:
    return [pd.notna(e) and e != "" for e in errors]


def invocation_timeline(invocations: pd.DataFrame, title: str = "Invocations") -> Figure | None:
    """One bar per invocation, in order, as tall as its batch; failed invocations in red.

    Parameters
    ----------
    invocations : pandas.DataFrame
        :func:`helpers.invocation_log.invocations`.
    title : str
        Figure title.
    """
    fig, ax = plt.subplots(figsize=(9, 3.5))
    if invocations.empty:
        _empty(ax)
    else:
        order = range(1, len(invocations) + 1)
        failed = _failed(invocations["error"])
        ax.bar(
            order, invocations["records"], color=[ERROR_COLOR if f else OK_COLOR for f in failed]
        )
        offsets = _seconds_from_first(invocations["start"])
        labelled = len(invocations) <= 12
        if labelled:
            tops = zip(invocations["records"], offsets, strict=True)
            for x, (height, offset) in enumerate(tops, 1):
                ax.annotate(f"+{offset:.2f} s", (x, height), ha="center", va="bottom", size=7)
            ax.set_xticks(list(order))
        _legend(ax, [("succeeded", OK_COLOR), ("failed", ERROR_COLOR)])
        ax.set_ylim(0, max(1, invocations["records"].max()) * 1.45)
        ax.set_xlim(0.4, len(invocations) + 0.6)
    labels = len(invocations) <= 12 and not invocations.empty
    ax.set_xlabel("invocation, in order" + (" (label: seconds after the first)" if labels else ""))
    ax.set_ylabel("records in the batch")
    ax.set_title(title)
    return _show(fig)


def durations(invocations: pd.DataFrame, title: str = "Duration per invocation") -> Figure | None:
    """Duration of each invocation (ms), cold starts and failures marked."""
    fig, ax = plt.subplots(figsize=(9, 3.5))
    done = invocations.dropna(subset=["duration_ms"]) if not invocations.empty else invocations
    if done.empty:
        _empty(ax)
    else:
        colors = [
            ERROR_COLOR if e else COLD_COLOR if c else OK_COLOR
            for e, c in zip(_failed(done["error"]), done["cold_start"], strict=True)
        ]
        ax.bar(range(1, len(done) + 1), done["duration_ms"], color=colors)
        _legend(ax, [("warm", OK_COLOR), ("cold start", COLD_COLOR), ("failed", ERROR_COLOR)])
        ax.set_ylim(0, float(done["duration_ms"].max()) * 1.45)
    ax.set_xlabel("invocation (in order)")
    ax.set_ylabel("duration (ms)")
    ax.set_title(title)
    return _show(fig)


def metric_panels(
    metrics: pd.DataFrame, title: str = "Function metrics", *, columns: int = 3
) -> Figure | None:
    """One small chart per metric column of :func:`helpers.lambda_metrics.metric_series`.

    Counts are drawn as bars per period, durations and ages as lines with points.
    """
    names = list(metrics.columns)
    rows = max(1, -(-len(names) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.8 * rows), squeeze=False)
    x = _seconds_from_first(pd.Series(metrics.index)) if len(metrics) else pd.Series(dtype=float)
    step = float(x.diff().min()) if len(x) > 1 else 1.0
    xlabel = _time_label(metrics.index)
    for ax, name in zip(axes.flat, names, strict=False):
        unit = METRIC_UNITS.get(name, "")
        values = metrics[name].to_numpy()
        if unit == "count":
            ax.bar(
                x,
                values,
                width=step * 0.8,
                align="edge",
                color=ERROR_COLOR if name in ("Errors", "Throttles") else OK_COLOR,
            )
        else:
            ax.plot(x, values, marker="o", color=OK_COLOR)
        ax.set_title(f"{name} ({unit})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(unit)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title)
    return _show(fig)


def latency_histogram(
    seconds: Sequence[float] | pd.Series,
    title: str = "End-to-end latency",
    *,
    xlabel: str = "latency: write to processed (ms)",
    bins: int = 30,
) -> Figure | None:
    """Histogram of latencies (given in seconds, drawn in ms), with median and p95 marked."""
    values = pd.Series(seconds, dtype=float).dropna() * 1000
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if values.empty:
        _empty(ax)
    else:
        ax.hist(values, bins=bins, color=OK_COLOR, edgecolor="white")
        for q, style in ((0.5, "-"), (0.95, "--")):
            v = values.quantile(q)
            ax.axvline(v, color=ERROR_COLOR, linestyle=style, label=f"p{int(q * 100)} = {v:.0f} ms")
        ax.legend(loc="upper right")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    ax.set_title(title)
    return _show(fig)


def dashboard(panels: Sequence[tuple[str, pd.DataFrame]], title: str) -> Figure | None:
    """Draw the metric widgets of a dashboard (see :func:`helpers.dashboards.dashboard_series`)."""
    columns = 2
    rows = max(1, -(-len(panels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(11, 2.8 * rows), squeeze=False)
    for ax, (panel_title, frame) in zip(axes.flat, panels, strict=False):
        if frame.empty:
            _empty(ax)
        else:
            x = _seconds_from_first(pd.Series(frame.index))
            counts = "(count)" in panel_title
            for column in frame.columns:
                ax.plot(
                    x,
                    frame[column].to_numpy(),
                    marker="." if not counts else None,
                    drawstyle="steps-post" if counts else "default",
                    label=column,
                )
            ax.legend(fontsize="small", loc="upper right")
            ax.set_xlabel(_time_label(frame.index))
        ax.set_title(panel_title)
        ax.set_ylabel(panel_title.split("(")[-1].rstrip(")") if "(" in panel_title else "")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    return _show(fig)


def bar_counts(
    counts: pd.Series, title: str, *, xlabel: str, ylabel: str = "count", log: bool = False
) -> Figure | None:
    """A bar chart of counts (e.g. ``Series.value_counts()``), labels on the x axis."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar([str(i) for i in counts.index], counts.to_numpy(), color=OK_COLOR)
    if log:
        ax.set_yscale("log")
    for x, y in enumerate(counts.to_numpy()):
        ax.annotate(f"{y:,}", (x, y), ha="center", va="bottom", fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    ax.set_title(title)
    return _show(fig)


def lag_over_time(lag: pd.DataFrame, title: str = "Replication lag") -> Figure | None:
    """Each item's replication lag (ms) against when it was written (s from the first write).

    A flat line: the replicator kept up. A climbing one: it fell behind during the load.
    """
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if lag.empty:
        _empty(ax)
    else:
        x = _seconds_from_first(lag["written_at"])
        ax.plot(x, lag["lag_s"].to_numpy() * 1000, ".", markersize=3, color=OK_COLOR)
    ax.set_xlabel("written at (s since the first write)")
    ax.set_ylabel("lag (ms)")
    ax.set_title(title)
    return _show(fig)
