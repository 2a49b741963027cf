"""Training curves from a trainer's log history: rows for `dvc plots` and one PNG per stage.

The log history is the trainer's own record (it survives a resume inside the
checkpoint's `trainer_state.json`), so the curve of a resumed run is whole.
Field names are made `dvc plots`-friendly (`rewards/ret/mean` -> `rewards_ret_mean`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from r1router.io.atomic import atomic_path

DPI = 100


def field_name(key: str) -> str:
    return key.replace("/", "_")


def curve_rows(log_history: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[dict[str, float]]:
    """One row `{step, <key>...}` per logged optimizer step that has any of `keys` (summary lines are left out)."""
    rows = []
    for entry in log_history:
        values = {field_name(k): float(entry[k]) for k in keys if isinstance(entry.get(k), int | float)}
        if values and "train_runtime" not in entry:
            rows.append({"step": int(entry["step"]), **values})
    return rows


def curve_png(
    rows: Sequence[Mapping[str, float]], panels: Mapping[str, Sequence[str]], target: Path, title: str
) -> Path:
    """One panel per entry of `panels` (panel title -> curve keys), step on the x axis; keys absent are skipped."""
    figure = Figure(figsize=(4.2 * len(panels), 3.6))
    for index, (panel, keys) in enumerate(panels.items(), start=1):
        ax = figure.add_subplot(1, len(panels), index)
        for key in keys:
            points = [(row["step"], row[field_name(key)]) for row in rows if field_name(key) in row]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o", markersize=3, label=key)
        ax.set_title(panel)
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", frameon=False)
    figure.suptitle(title)
    figure.tight_layout()
    FigureCanvasAgg(figure)
    with atomic_path(target, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return target
