"""The evaluation report: the paper's Table 1 (F1-Recall per method and benchmark) from `metrics/eval.json`.

The input is what the evaluate stage writes, `{benchmark: {method: method_metrics(...)}}`
(see `method_metrics.py`). This module owns every presentation decision: column and
row order, short names, number formats, what counts as "best". The figures in
`plots.py` receive data already ordered and labelled here, so a table and a plot of
the same numbers can never disagree on order or naming.

Conventions a reader of the report should know (they are also stated in it):
- "–" means not evaluated (no entry) or not applicable (None, e.g. routing accuracy
  of a method that does not route). A gap is never drawn or written as 0.
- "Best" compares values as displayed (two decimals), so two methods that print the
  same number are both bold.
- Avg. is the mean over the benchmarks the method has a value for. When that is not
  every column, the average covers different questions from the others', so it is
  marked with † and is not a candidate for bold.
- "± m" after an F1-Recall is half the width of its 95 % bootstrap interval
  (`intervals.py`); the Avg.'s resamples each benchmark's questions on its own.

Output is deterministic: rows, columns and provenance keys are ordered by rule, not
by dict insertion order, so the same numbers give the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1router.evaluation.method_metrics import NOT_REACHED
from r1router.evaluation.plots import SharePanel, grouped_bars_png, kb_shares_png, labelled_points_png
from r1router.io.atomic import write_text

# The paper's Table 1 columns, in its order: (dataset key, short name, group).
PAPER_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("2wikimultihopqa", "2WikiMQA", "Text"),
    ("openwikitqa", "Open-WikiTable", "Table"),
    ("tabfact", "TabFact", "Table"),
    ("infoseek", "InfoSeek", "Visual"),
    ("dyn_vqa", "Dyn-VQA", "Visual"),
    ("webqa", "WebQA", "Visual"),
)
METHOD_ORDER = (
    "direct", "rag-text", "rag-table", "rag-image", "rag-all", "iterative", "prompt-router", "sft", "step-grpo",
)  # fmt: skip
ROUTING_METHODS = ("prompt-router", "sft", "step-grpo")
KB_ORDER = ("text", "table", "image", "none")
MISSING = "–"
PARTIAL = "†"
F1_PLOT = "f1_by_benchmark.png"
KB_PLOT = "kb_distribution.png"
EFFICIENCY_PLOT = "efficiency.png"
_FIGURE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_CSS = (
    "body{font-family:sans-serif;max-width:72em;margin:1em auto}table{border-collapse:collapse}"
    "th,td{border:1px solid #ccc;padding:.2em .5em}td{text-align:right}td:first-child{text-align:left}"
    "img{max-width:100%}"
)


@dataclass(frozen=True)
class Column:
    """One benchmark column: the key eval.json uses, the name the report shows, the paper's group."""

    key: str
    name: str
    group: str


def _check(metrics: Mapping[str, Any]) -> None:
    """Fail with a message that says what is wrong, before any half-built report exists."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError("empty evaluation metrics: no benchmark to report (is metrics/eval.json empty?)")
    for benchmark, methods in metrics.items():
        if not isinstance(methods, Mapping):
            raise ValueError(f"metrics[{benchmark!r}] must map method -> numbers, got {type(methods).__name__}")
        for method, entry in methods.items():
            if not isinstance(entry, Mapping):
                raise ValueError(f"metrics[{benchmark!r}][{method!r}] must be a dict, got {type(entry).__name__}")
    if not any(metrics.values()):
        raise ValueError(f"no method was evaluated on any benchmark ({', '.join(sorted(metrics))})")


def benchmark_columns(metrics: Mapping[str, Any]) -> list[Column]:
    """Benchmarks in the paper's column order; `demo_<name>` reads as `<name>`; unknown ones last, alphabetically."""
    known = {key: (rank, name, group) for rank, (key, name, group) in enumerate(PAPER_COLUMNS)}

    def rank(key: str) -> tuple[int, bool, str]:
        paper_key = key.removeprefix("demo_")
        return (known[paper_key][0] if paper_key in known else len(known), key != paper_key, key)

    columns = []
    for key in sorted(metrics, key=rank):
        _, name, group = known.get(key.removeprefix("demo_"), (0, key, "Other"))
        columns.append(Column(key, name, group))
    # Both `webqa` and `demo_webqa` in one file: the short name alone would be ambiguous.
    names = [column.name for column in columns]
    return [Column(c.key, c.key, c.group) if names.count(c.name) > 1 else c for c in columns]


def method_order(metrics: Mapping[str, Any]) -> list[str]:
    """Every method evaluated on any benchmark, in the paper's row order; unknown methods last, alphabetically."""
    methods = {method for entries in metrics.values() for method in entries}
    return sorted(methods, key=lambda m: (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), m))


def _number(metrics: Mapping[str, Any], benchmark: str, method: str, field: str) -> float | None:
    """The value, or None when it is absent, None or not finite (all shown as "–")."""
    value = metrics[benchmark].get(method, {}).get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"metrics[{benchmark!r}][{method!r}][{field!r}] must be a number or null, got {value!r}")
    return float(value) if math.isfinite(value) else None


Grid = dict[str, list[float | None]]  # method -> one value per column


def _grid(
    metrics: Mapping[str, Any], columns: Sequence[Column], methods: Sequence[str], field: str, scale: float = 1.0
) -> Grid:
    grid: Grid = {}
    for method in methods:
        values = [_number(metrics, column.key, method, field) for column in columns]
        grid[method] = [None if v is None else v * scale for v in values]
    return grid


def _cell(value: float | None) -> str:
    return MISSING if value is None else f"{value:.2f}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def _code(text: str) -> str:
    """A code span (commits and hashes read better in monospace) unless the value itself holds a backtick."""
    text = _flat(text)
    return text if "`" in text or not text else f"`{text}`"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| :--- |" + " ---: |" * (len(header) - 1)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _average(values: Sequence[float | None]) -> tuple[float | None, bool]:
    """The Avg. cell: mean of the values present, and whether some are missing (then marked †)."""
    present = [v for v in values if v is not None]
    return (sum(present) / len(present) if present else None, 0 < len(present) < len(values))


def f1_averages(metrics: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    """Table 1's Avg. column: method -> (mean F1-Recall, partial), for every method with any value.

    The same numbers the report prints (before rounding), so a logged Avg. metric
    and the table cannot disagree.
    """
    _check(metrics)
    grid = _grid(metrics, benchmark_columns(metrics), method_order(metrics), "f1_recall")
    averages = {method: _average(values) for method, values in grid.items()}
    return {method: (value, partial) for method, (value, partial) in averages.items() if value is not None}


Margins = dict[str, list[float | None]]  # method -> half-width of the 95 % interval per column, then Avg.


def _value_table(
    columns: Sequence[Column], grid: Grid, *, bold_best: bool, margins: Margins | None = None
) -> tuple[list[str], bool]:
    """Rows = methods, one column per benchmark plus Avg.; returns the lines and whether any Avg. is partial.

    With `margins`, a cell reads `value ± margin` (bold applies to the value).
    """
    averages = {method: _average(values) for method, values in grid.items()}
    matrix = {method: [*values, averages[method][0]] for method, values in grid.items()}
    best: list[float | None] = []
    for index in range(len(columns) + 1):
        candidates = [
            float(_cell(values[index]))
            for method, values in matrix.items()
            if values[index] is not None and not (index == len(columns) and averages[method][1])
        ]
        best.append(max(candidates) if bold_best and candidates else None)
    rows = []
    for method, values in matrix.items():
        cells = []
        for index, value in enumerate(values):
            text = _cell(value)
            if value is not None and best[index] is not None and float(text) == best[index]:
                text = f"**{text}**"
            if index == len(columns) and averages[method][1]:
                text += PARTIAL
            margin = (margins or {}).get(method, [None] * len(values))[index]
            if value is not None and margin is not None:
                text += f" ± {margin:.1f}"
            cells.append(text)
        rows.append([_escape(method), *cells])
    partial = any(is_partial for _, is_partial in averages.values())
    return _table(["Method", *(_escape(c.name) for c in columns), "Avg."], rows), partial


def _section(
    heading: str,
    note: str,
    columns: Sequence[Column],
    grid: Grid,
    *,
    bold_best: bool = False,
    margins: Margins | None = None,
) -> list[str]:
    table, partial = _value_table(columns, grid, bold_best=bold_best, margins=margins)
    footnote = [f"{PARTIAL} averaged over fewer benchmarks than the other rows."] if partial else []
    return [f"## {heading}", "", note, "", *table, "", *footnote, *([""] if footnote else [])]


def _half_width(interval: Any) -> float | None:
    if not isinstance(interval, Sequence) or len(interval) != 2:
        return None
    return (float(interval[1]) - float(interval[0])) / 2


def _f1_margins(
    metrics: Mapping[str, Any], columns: Sequence[Column], methods: Sequence[str], stats: Mapping[str, Any]
) -> Margins:
    """Half-widths of each cell's interval (eval.json `f1_recall_ci95`) and of each Avg.'s (eval_stats.json)."""
    averages = stats.get("avg", {})
    return {
        method: [_half_width(metrics[c.key].get(method, {}).get("f1_recall_ci95")) for c in columns]
        + [_half_width(averages.get(method, {}).get("f1_recall_ci95"))]
        for method in methods
    }


def _chance(metrics: Mapping[str, Any], columns: Sequence[Column], methods: Sequence[str]) -> list[str]:
    """Each benchmark's chance level, and F1-Recall on the questions whose answer cannot be guessed.

    Every method answers the same questions, so any method's `guessable_share` is the benchmark's.
    """
    levels = []
    for column in columns:
        entries = [e for e in metrics[column.key].values() if e.get("guessable_share") is not None]
        if entries:
            share, chance = entries[0]["guessable_share"], entries[0]["chance_f1_recall"]
            levels.append(f"{_escape(column.name)} {chance:.2f} ({share:.0f} % guessable)")
    if not levels:
        return []
    note = (
        "A question is guessable when its answer is yes/no or a name the question itself offers (a two-way "
        "comparison): a coin scores half of those. Chance F1-Recall: " + " · ".join(levels) + "."
    )
    grid = _grid(metrics, columns, methods, "f1_recall_unguessable")
    return _section("F1-Recall on questions that cannot be guessed (%)", note, columns, grid, bold_best=True)


def _comparisons(stats: Mapping[str, Any]) -> list[str]:
    """The paired comparisons, one row per pair: difference in Avg., its 95 % interval, the p-value."""
    rows = [
        [
            f"{_escape(c['a'])} − {_escape(c['b'])}",
            f"{c['diff']:+.2f}",
            f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]",
            f"{c['p_value']:.4f}",
        ]
        for c in stats.get("comparisons", [])
    ]
    if not rows:
        return []
    note = (
        "Avg. F1-Recall of A minus B over the same questions: a paired bootstrap interval (each benchmark "
        "resampled on its own) and a two-sided sign-flip permutation p-value (`r1router/evaluation/intervals.py`)."
    )
    return ["## Paired comparisons", "", note, "", *_table(["A − B", "Δ Avg.", "95 % interval", "p"], rows), ""]


def efficiency_rows(metrics: Mapping[str, Any]) -> list[tuple[str, float, float, float]]:
    """(method, Avg. F1-Recall, retrievals per question, seconds per question) for methods on every benchmark.

    The paper's efficiency claim is fewer, better retrievals: quality against what it cost.
    """
    columns, methods = benchmark_columns(metrics), method_order(metrics)
    averages = f1_averages(metrics)
    rows = []
    for method in methods:
        if method not in averages or averages[method][1]:
            continue
        retrievals = [_number(metrics, c.key, method, "retrievals_per_question") for c in columns]
        seconds = [_number(metrics, c.key, method, "mean_latency_seconds") for c in columns]
        if None in retrievals or None in seconds:
            continue
        rows.append((method, averages[method][0], sum(retrievals) / len(columns), sum(seconds) / len(columns)))
    return rows


def _efficiency(metrics: Mapping[str, Any]) -> list[str]:
    rows = [
        [_escape(method), _cell(f1), f"{retrievals:.2f}", _cell(f1 / retrievals) if retrievals else MISSING, f"{s:.1f}"]
        for method, f1, retrievals, s in efficiency_rows(metrics)
    ]
    if not rows:
        return []
    note = "Avg. F1-Recall against the mean retrievals and seconds per question (methods on every benchmark)."
    header = ["Method", "Avg. F1-Recall", "Retrievals / question", "F1 per retrieval", "Seconds / question"]
    return ["## Efficiency", "", note, "", *_table(header, rows), ""]


def _confusion(metrics: Mapping[str, Any], methods: Sequence[str]) -> list[str]:
    """Per routing method, gold KB (or stop) x chosen KB summed over the benchmarks: where wrong routes go.

    Routing accuracy alone cannot tell a router that never picks a KB from one
    that picks it at the wrong time; this table can.
    """
    lines = []
    for method in _routers(metrics, methods):
        total: dict[str, Counter[str]] = {}
        for entry in metrics.values():
            for gold, chosen in (entry.get(method, {}).get("routing_confusion") or {}).items():
                total.setdefault(gold, Counter()).update(chosen)
        if not total:
            continue
        chosen_kinds = {kb for row in total.values() for kb in row}
        # Every gold KB is a column too: a KB the router never picks shows as a column of zeros.
        columns = _kb_ordered((chosen_kinds | set(total)) - {NOT_REACHED}) + [NOT_REACHED] * (
            NOT_REACHED in chosen_kinds
        )
        rows = [[_escape(gold), *(str(total[gold].get(kb, 0)) for kb in columns)] for gold in _kb_ordered(set(total))]
        lines += [f"**{_escape(method)}**", "", *_table(["gold \\ chosen", *map(_escape, columns)], rows), ""]
    if not lines:
        return []
    note = (
        "Every step of each question's gold route (its KBs, then the stop decision), against the KB the router "
        f"chose at that step, summed over the benchmarks; {NOT_REACHED}: the run had stopped before it."
    )
    return ["## Routing confusion", "", note, "", *lines]


def _kb_ordered(kinds: set[str]) -> list[str]:
    return [k for k in KB_ORDER if k in kinds] + sorted(kinds - set(KB_ORDER))


def _question_counts(metrics: Mapping[str, Any], columns: Sequence[Column]) -> str:
    """Text like "2WikiMQA 40 · ...": the sample size per column (a range where methods saw different counts)."""
    parts = []
    for column in columns:
        counts = sorted({int(e["questions"]) for e in metrics[column.key].values() if e.get("questions") is not None})
        if counts:
            parts.append(f"{column.name} {counts[0]}" + (f"–{counts[-1]}" if len(counts) > 1 else ""))
    return "Questions per benchmark: " + " · ".join(parts) + "." if parts else ""


def table1_markdown(
    metrics: Mapping[str, Any],
    *,
    title: str,
    provenance: Mapping[str, str],
    figures: Sequence[tuple[str, str]] = (),
    stats: Mapping[str, Any] | None = None,
) -> str:
    """The whole Markdown report; `figures` are (caption, relative path) pairs to embed after the tables.

    `stats` (eval_stats.json: Avg. intervals and paired comparisons) adds the Avg.'s ± and the comparisons table.
    """
    _check(metrics)
    columns = benchmark_columns(metrics)
    methods = method_order(metrics)
    groups: dict[str, list[str]] = {}
    for column in columns:
        groups.setdefault(column.group, []).append(column.name)
    lines = [
        f"# {title}",
        "",
        "Benchmark groups: " + " · ".join(f"**{g}**: {', '.join(names)}" for g, names in groups.items()) + ".",
        f"{MISSING} = not evaluated, or not applicable to the method.",
        "",
    ]
    lines += _section(
        "F1-Recall (%)",
        "As in the paper's Table 1; the best value per column in **bold**; ± half the 95 % bootstrap interval.",
        columns,
        _grid(metrics, columns, methods, "f1_recall"),
        bold_best=True,
        margins=_f1_margins(metrics, columns, methods, stats or {}),
    )
    counts = _question_counts(metrics, columns)
    lines += [counts, ""] if counts else []
    lines += _chance(metrics, columns, methods)
    lines += _comparisons(stats or {})
    lines += _efficiency(metrics)
    lines += _section(
        "Retrievals per question",
        "Mean number of KB retrievals per question.",
        columns,
        _grid(metrics, columns, methods, "retrievals_per_question"),
    )
    lines += _section(
        "Routing accuracy (%)",
        f"Steps whose KB (or stop decision) matches the gold plan; {MISSING} for methods that do not route.",
        columns,
        _grid(metrics, columns, methods, "routing_accuracy", scale=100.0),
    )
    lines += _confusion(metrics, methods)
    lines += _section(
        "Format-error rate (%)",
        "Model outputs that did not follow the expected tag format.",
        columns,
        _grid(metrics, columns, methods, "format_error_rate", scale=100.0),
    )
    if figures:
        lines += ["## Figures", ""] + [f"![{_escape(caption)}]({path})" for caption, path in figures] + [""]
    lines += ["## Provenance", ""]
    items = sorted((str(k), str(v)) for k, v in provenance.items())
    lines += [f"- {_flat(k)}: {_code(v)}" for k, v in items] or ["- (none recorded)"]
    return "\n".join(lines) + "\n"


def dvc_plot_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Long-format F1-Recall rows for a `dvc plots` JSON file, in report order; missing cells are left out."""
    _check(metrics)
    methods = method_order(metrics)
    rows = []
    for column in benchmark_columns(metrics):
        for method in methods:
            value = _number(metrics, column.key, method, "f1_recall")
            if value is not None:
                rows.append({"benchmark": column.name, "method": method, "f1_recall": value})
    return rows


def _step_key(step: str) -> tuple[int, str]:
    return (int(step), "") if str(step).isdigit() else (1 << 30, str(step))


def kb_share_panel(distribution: Mapping[str, Mapping[str, int]]) -> SharePanel | None:
    """Counts per step ({"1": {"text": 3, ...}}) as shares per step, KB kinds in a fixed stacking order."""
    steps = sorted((str(s) for s, counts in distribution.items() if sum(counts.values()) > 0), key=_step_key)
    if not steps:
        return None
    by_step = {str(s): counts for s, counts in distribution.items()}
    ordered = _kb_ordered({kind for step in steps for kind in by_step[step]})
    totals = [sum(by_step[step].values()) for step in steps]
    shares = {kind: [by_step[s].get(kind, 0) / t for s, t in zip(steps, totals, strict=True)] for kind in ordered}
    return SharePanel(steps=steps, shares=shares, totals=totals)


def _routers(metrics: Mapping[str, Any], methods: Sequence[str]) -> list[str]:
    """The paper's routing methods, plus any unknown method that recorded a KB distribution (a router variant)."""
    return [
        m
        for m in methods
        if m in ROUTING_METHODS
        or (m not in METHOD_ORDER and any(e.get(m, {}).get("kb_distribution") for e in metrics.values()))
    ]


def write_report(
    metrics: Mapping[str, Any],
    out_md: Path,
    plots_dir: Path,
    provenance: Mapping[str, str],
    *,
    title: str = "R1-Router evaluation",
    stats: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the figures, then the Markdown that embeds them; return [markdown, f1 plot, KB plot, efficiency plot].

    The Markdown is rendered (and so validated) before anything is written, and
    written last, so a report file never points at figures that failed to draw.
    """
    out_md, plots_dir = Path(out_md), Path(plots_dir)
    f1_png, kb_png, efficiency_png = plots_dir / F1_PLOT, plots_dir / KB_PLOT, plots_dir / EFFICIENCY_PLOT
    relative = Path(os.path.relpath(plots_dir, out_md.parent)).as_posix()
    figures = [
        ("F1-Recall by benchmark", f"{relative}/{F1_PLOT}"),
        ("KB choice per step", f"{relative}/{KB_PLOT}"),
        ("F1-Recall against retrievals per question", f"{relative}/{EFFICIENCY_PLOT}"),
    ]
    markdown = table1_markdown(metrics, title=title, provenance=provenance, figures=figures, stats=stats)
    columns, methods = benchmark_columns(metrics), method_order(metrics)
    grid = _grid(metrics, columns, methods, "f1_recall")
    grouped_bars_png(
        f1_png,
        [c.name for c in columns],
        [(m, grid[m]) for m in methods],
        ylabel="F1-Recall (%)",
        title="F1-Recall per benchmark and method",
    )
    rows = []
    for method in _routers(metrics, methods):
        panels = [kb_share_panel(metrics[c.key].get(method, {}).get("kb_distribution") or {}) for c in columns]
        if any(panels):
            rows.append((method, panels))
    kb_shares_png(kb_png, [c.name for c in columns], rows, title="Share of KB choices per routing step")
    labelled_points_png(
        efficiency_png,
        [(method, retrievals, f1) for method, f1, retrievals, _ in efficiency_rows(metrics)],
        xlabel="Retrievals per question (mean over benchmarks)",
        ylabel="Avg. F1-Recall (%)",
        title="Quality against retrieval cost",
    )
    write_text(out_md, markdown)
    return [out_md, f1_png, kb_png, efficiency_png]


def report_html(markdown: str, base: Path) -> str:
    """`markdown` (a `table1_markdown` report) as one self-contained HTML page, figures inlined as data URIs.

    MLflow's artifact view shows Markdown as plain text and serves each file on its
    own, so relative figure links cannot resolve there; this page renders with its
    tables and figures. `base`: the directory the Markdown's figure paths are relative to.
    """
    import markdown as md  # Python-Markdown (a Prefect dependency, through apprise)

    def inline(match: re.Match[str]) -> str:
        figure = base / match.group(2)
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        return f"![{match.group(1)}](data:image/png;base64,{data})"

    body = md.markdown(_FIGURE.sub(inline, markdown), extensions=["tables"])
    title = html.escape(markdown.splitlines()[0].lstrip("# ")) if markdown else ""
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
