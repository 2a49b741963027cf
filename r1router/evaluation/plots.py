"""The report's PNG figures, drawn from data the report has already ordered and labelled.

This module knows nothing about benchmarks or methods: `report.py` decides what a
column is called and in which order it comes, so the tables and the figures can never
disagree. Figures are built on a bare `Figure` with the Agg canvas, never through
pyplot, so no display, backend selection or global figure registry is involved (a
long-running Prefect worker would otherwise accumulate figures). Each PNG is written
through `atomic_path`, and without the "Software" metadata, so the same data and the
same matplotlib give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from r1router.io.atomic import atomic_path

DPI = 100
# Fixed colours per KB kind so that "text" is the same blue in every panel and every report.
KB_COLOURS = {"text": "#4C72B0", "table": "#DD8452", "image": "#55A868", "none": "#9A9A9A"}
_EXTRA_COLOURS = ("#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")


@dataclass(frozen=True)
class SharePanel:
    """One benchmark × method panel: the share of each KB kind at each routing step."""

    steps: list[str]  # step labels, in order ("1", "2", ...)
    shares: dict[str, list[float]]  # kind -> share per step (fractions); dict order is the stacking order
    totals: list[int]  # how many decisions were made at each step, printed above its bar


def _save(figure: Figure, target: Path) -> Path:
    FigureCanvasAgg(figure)
    with atomic_path(target, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return target


def _colour(kind: str, extra: Sequence[str]) -> str:
    if kind in KB_COLOURS:
        return KB_COLOURS[kind]
    return _EXTRA_COLOURS[extra.index(kind) % len(_EXTRA_COLOURS)]


def grouped_bars_png(
    target: Path,
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    ylabel: str,
    title: str,
) -> Path:
    """Bars grouped by `groups` (x axis), one bar per series; a None value leaves a gap, not a zero bar.

    A gap rather than a zero so that "not evaluated" never reads as "scored 0".
    """
    width_in = max(6.0, 1.4 * len(groups) + 3.0)
    figure = Figure(figsize=(width_in, 4.5))
    ax = figure.add_subplot()
    slot = 0.8 / max(1, len(series))
    for index, (label, values) in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * slot
        xs = [x + offset for x, v in enumerate(values) if v is not None]
        ys = [v for v in values if v is not None]
        ax.bar(xs, ys, width=slot, label=label, color=f"C{index % 10}")
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    figure.tight_layout()
    return _save(figure, target)


def kb_shares_png(
    target: Path,
    columns: Sequence[str],
    rows: Sequence[tuple[str, Sequence[SharePanel | None]]],
    *,
    title: str,
) -> Path:
    """A grid of stacked-bar panels: rows are methods, columns benchmarks, bars steps.

    With no rows at all the figure still gets written, holding a sentence that says
    so: the file is a declared pipeline output, and "no router was evaluated" is
    an answer a reader should see rather than a missing file.
    """
    if not rows or not columns:
        figure = Figure(figsize=(6.0, 2.0))
        figure.text(0.5, 0.5, "No routing method in these metrics.", ha="center", va="center")
        return _save(figure, target)
    present = {kind for _, panels in rows for panel in panels if panel for kind in panel.shares}
    extra = sorted(present - set(KB_COLOURS))
    kinds = [kind for kind in KB_COLOURS if kind in present] + extra  # legend in stacking order
    figure = Figure(figsize=(2.8 * len(columns) + 1.6, 2.4 * len(rows) + 1.0))
    axes = figure.subplots(len(rows), len(columns), squeeze=False, sharey=True)
    for r, (method, panels) in enumerate(rows):
        for c, panel in enumerate(panels):
            ax = axes[r][c]
            if r == 0:
                ax.set_title(columns[c], fontsize="medium")
            if c == 0:
                ax.set_ylabel(f"{method}\nshare of decisions", fontsize="small")
            ax.set_ylim(0, 1.12)
            if panel is None or not panel.steps:
                ax.text(0.5, 0.5, "–", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
                continue
            bottom = [0.0] * len(panel.steps)
            xs = list(range(len(panel.steps)))
            for kind, shares in panel.shares.items():
                ax.bar(xs, shares, bottom=bottom, width=0.7, color=_colour(kind, extra), label=kind)
                bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
            for x, total in zip(xs, panel.totals, strict=True):
                ax.text(x, 1.02, f"n={total}", ha="center", va="bottom", fontsize="x-small")
            ax.set_xticks(xs, [f"step {s}" for s in panel.steps], fontsize="small")
    # One legend for the whole grid: a kind gets its entry whichever panel it first appears in.
    handles = [Patch(color=_colour(kind, extra), label=kind) for kind in kinds]
    figure.legend(handles, kinds, loc="upper right", ncols=max(1, len(kinds)), fontsize="small", frameon=False)
    figure.suptitle(title, x=0.02, ha="left")
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(figure, target)


def labelled_points_png(
    target: Path, points: Sequence[tuple[str, float, float]], *, xlabel: str, ylabel: str, title: str
) -> Path:
    """One labelled point per (label, x, y): a trade-off view, e.g. quality against cost per method."""
    figure = Figure(figsize=(6.5, 4.5))
    ax = figure.add_subplot()
    for index, (label, x, y) in enumerate(points):
        ax.scatter([x], [y], color=f"C{index % 10}", zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 4), fontsize="small")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    figure.tight_layout()
    return _save(figure, target)
