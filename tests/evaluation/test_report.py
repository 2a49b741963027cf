"""The evaluation report: Table 1 layout, best-in-bold, averages, missing cells, provenance, plots."""

import pytest
from PIL import Image

from r1router.evaluation.report import (
    benchmark_columns,
    dvc_plot_rows,
    kb_share_panel,
    method_order,
    table1_markdown,
    write_report,
)

PROVENANCE = {"model": "Qwen2.5-0.5B|demo", "git commit": "0391f43", "params hash": "ab12cd"}


def entry(f1, *, retrievals=1.0, routing=None, errors=0.0, kb=None, questions=40):
    return {
        "questions": questions,
        "f1_recall": f1,
        "exact_match": f1 / 2,
        "retrievals_per_question": retrievals,
        "routing_accuracy": routing,
        "format_error_rate": errors,
        "questions_per_second": 2.0,
        "mean_latency_seconds": 0.5,
        "kb_distribution": kb or {},
    }


def synthetic():
    """Benchmarks and methods deliberately out of display order; one router, one unknown method."""
    return {
        "demo_webqa": {
            "zz-custom": entry(33.333, retrievals=1.0),
            "step-grpo": entry(
                60.0,
                retrievals=1.5,
                routing=0.9,
                errors=0.01,
                kb={"1": {"image": 30, "text": 10}, "2": {"none": 25, "text": 15}, "3": {"none": 15}},
            ),
            "direct": entry(20.0, retrievals=0.0),
        },
        "demo_2wikimultihopqa": {
            "step-grpo": entry(
                45.5, retrievals=2.1, routing=0.8123, errors=0.025, kb={"1": {"text": 40}, "2": {"none": 40}}
            ),
            "rag-text": entry(45.5, retrievals=1.0),
            "direct": entry(30.0, retrievals=0.0),
        },
        "demo_tabfact": {
            "direct": entry(50.0, retrievals=0.0, questions=38),
            "step-grpo": entry(70.0, retrievals=1.2, routing=0.7, kb={"1": {"table": 36, "text": 4}}),
        },
    }


def table(markdown, heading):
    """The Markdown table under `## heading`, as rows of stripped cells (header first, separator dropped)."""
    lines = markdown.splitlines()
    start = lines.index(f"## {heading}")
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("| :---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


@pytest.fixture
def report():
    return table1_markdown(synthetic(), title="Demo evaluation", provenance=PROVENANCE)


def test_columns_follow_the_paper_grouped_by_modality(report):
    header = table(report, "F1-Recall (%)")[0]
    assert header == ["Method", "2WikiMQA", "TabFact", "WebQA", "Avg."]
    assert "**Text**: 2WikiMQA · **Table**: TabFact · **Visual**: WebQA." in report
    assert report.startswith("# Demo evaluation\n")


def test_methods_in_display_order_unknown_last(report):
    assert [row[0] for row in table(report, "F1-Recall (%)")[1:]] == ["direct", "rag-text", "step-grpo", "zz-custom"]
    assert method_order({"b": {"zeta": {}, "sft": {}, "alpha": {}, "direct": {}}}) == ["direct", "sft", "alpha", "zeta"]


def test_best_per_column_is_bold_ties_included(report):
    rows = {row[0]: row[1:] for row in table(report, "F1-Recall (%)")[1:]}
    assert rows["rag-text"][0] == rows["step-grpo"][0] == "**45.50**"  # a tie: both bold
    assert rows["direct"][0] == "30.00"
    assert rows["step-grpo"][1:3] == ["**70.00**", "**60.00**"]
    assert rows["direct"][1:3] == ["50.00", "20.00"]
    bold = [cell for row in rows.values() for cell in row if cell.startswith("**")]
    assert len(bold) == 5  # two tied in 2WikiMQA, one each in TabFact, WebQA, Avg.
    assert sum("**" in cell for row in table(report, "Retrievals per question")[1:] for cell in row) == 0


def test_average_is_the_mean_of_present_benchmarks_partial_ones_marked_and_not_bold(report):
    rows = {row[0]: row[1:] for row in table(report, "F1-Recall (%)")[1:]}
    assert rows["direct"][3] == f"{(30.0 + 50.0 + 20.0) / 3:.2f}" == "33.33"
    assert rows["step-grpo"][3] == f"**{(45.5 + 70.0 + 60.0) / 3:.2f}**" == "**58.50**"
    # rag-text's 45.50 over one benchmark would beat nothing fairly: marked † and never bold.
    assert rows["rag-text"][3] == "45.50†"
    assert rows["zz-custom"][3] == "33.33†"
    assert "† averaged over fewer benchmarks" in report


def test_missing_and_none_cells_show_a_dash(report):
    f1 = {row[0]: row[1:] for row in table(report, "F1-Recall (%)")[1:]}
    assert f1["rag-text"][1:3] == ["–", "–"]
    assert f1["zz-custom"][:2] == ["–", "–"]
    routing = {row[0]: row[1:] for row in table(report, "Routing accuracy (%)")[1:]}
    assert routing["direct"] == ["–", "–", "–", "–"]  # None: it does not route
    assert routing["step-grpo"] == ["81.23", "70.00", "90.00", f"{(81.23 + 70 + 90) / 3:.2f}"]
    errors = {row[0]: row[1:] for row in table(report, "Format-error rate (%)")[1:]}
    assert errors["step-grpo"][:3] == ["2.50", "0.00", "1.00"]
    retrievals = {row[0]: row[1:] for row in table(report, "Retrievals per question")[1:]}
    assert retrievals["step-grpo"] == ["2.10", "1.20", "1.50", "1.60"]


def test_question_counts_show_a_range_where_methods_differ(report):
    assert "Questions per benchmark: 2WikiMQA 40 · TabFact 38–40 · WebQA 40." in report


def test_provenance_lines_sorted_and_verbatim(report):
    tail = report[report.index("## Provenance") :].splitlines()[2:]
    assert tail == ["- git commit: `0391f43`", "- model: `Qwen2.5-0.5B|demo`", "- params hash: `ab12cd`"]
    empty = table1_markdown(synthetic(), title="t", provenance={})
    assert empty.rstrip().endswith("- (none recorded)")


def test_same_input_same_bytes_regardless_of_dict_order():
    first = table1_markdown(synthetic(), title="t", provenance=PROVENANCE)
    assert table1_markdown(synthetic(), title="t", provenance=PROVENANCE) == first
    shuffled = {b: dict(reversed(list(methods.items()))) for b, methods in reversed(list(synthetic().items()))}
    reordered = dict(reversed(list(PROVENANCE.items())))
    assert table1_markdown(shuffled, title="t", provenance=reordered).encode() == first.encode()


def test_paper_names_demo_names_and_unknown_benchmarks():
    columns = benchmark_columns({"custom_set": {}, "webqa": {}, "demo_openwikitqa": {}, "demo_webqa": {}})
    assert [(c.key, c.name, c.group) for c in columns] == [
        ("demo_openwikitqa", "Open-WikiTable", "Table"),
        ("webqa", "webqa", "Visual"),  # both spellings present: the short name would be ambiguous
        ("demo_webqa", "demo_webqa", "Visual"),
        ("custom_set", "custom_set", "Other"),
    ]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [({}, "empty evaluation metrics"), ({"demo_webqa": {}, "demo_tabfact": {}}, "no method was evaluated")],
)
def test_nothing_to_report_raises(metrics, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        table1_markdown(metrics, title="t", provenance={})
    with pytest.raises(ValueError):
        write_report(metrics, tmp_path / "report.md", tmp_path / "plots", {})
    assert not (tmp_path / "report.md").exists()


def test_a_non_number_is_named_by_its_place():
    metrics = synthetic()
    metrics["demo_tabfact"]["direct"]["f1_recall"] = "50"
    with pytest.raises(ValueError, match=r"\['demo_tabfact'\]\['direct'\]\['f1_recall'\]"):
        table1_markdown(metrics, title="t", provenance={})


def test_dvc_plot_rows_long_format_in_report_order():
    rows = dvc_plot_rows(synthetic())
    assert rows[:3] == [
        {"benchmark": "2WikiMQA", "method": "direct", "f1_recall": 30.0},
        {"benchmark": "2WikiMQA", "method": "rag-text", "f1_recall": 45.5},
        {"benchmark": "2WikiMQA", "method": "step-grpo", "f1_recall": 45.5},
    ]
    assert len(rows) == 8  # one row per evaluated (benchmark, method): 3 + 2 + 3, no rows for missing cells
    assert [r["method"] for r in rows if r["benchmark"] == "WebQA"] == ["direct", "step-grpo", "zz-custom"]


def test_kb_share_panel_normalises_each_step_in_fixed_kind_order():
    panel = kb_share_panel({"2": {"none": 25, "text": 15}, "1": {"text": 10, "image": 30}, "10": {"none": 1}})
    assert panel.steps == ["1", "2", "10"]
    assert list(panel.shares) == ["text", "image", "none"]
    assert panel.shares["text"] == [0.25, 0.375, 0.0]
    assert panel.totals == [40, 40, 1]
    assert kb_share_panel({}) is None


def assert_png(path):
    assert path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()


def test_write_report_writes_markdown_and_two_pngs(tmp_path):
    out_md, plots_dir = tmp_path / "reports" / "eval.md", tmp_path / "plots" / "eval"
    paths = write_report(synthetic(), out_md, plots_dir, PROVENANCE, title="Demo evaluation")
    assert paths == [
        out_md,
        plots_dir / "f1_by_benchmark.png",
        plots_dir / "kb_distribution.png",
        plots_dir / "efficiency.png",
    ]
    text = out_md.read_text(encoding="utf-8")
    assert text.startswith("# Demo evaluation\n")
    assert "![F1-Recall by benchmark](../plots/eval/f1_by_benchmark.png)" in text
    for png in paths[1:]:
        assert_png(png)
    with Image.open(paths[2]) as kb:
        assert kb.size[0] > kb.size[1]  # one row (step-grpo) by three benchmark columns
    # Atomic writes leave no temporary siblings behind.
    assert sorted(p.name for p in plots_dir.iterdir()) == [
        "efficiency.png",
        "f1_by_benchmark.png",
        "kb_distribution.png",
    ]
    assert [p.name for p in out_md.parent.iterdir()] == ["eval.md"]
    first = [p.read_bytes() for p in paths]
    write_report(synthetic(), out_md, plots_dir, PROVENANCE, title="Demo evaluation")
    assert [p.read_bytes() for p in paths] == first


def test_kb_plot_is_still_written_without_routers(tmp_path):
    metrics = {"demo_tabfact": {"direct": entry(50.0), "rag-all": entry(55.0)}}
    paths = write_report(metrics, tmp_path / "r.md", tmp_path, {})
    assert_png(paths[2])


def test_intervals_comparisons_and_efficiency_are_reported():
    metrics = {
        "demo_webqa": {"direct": entry(20.0, retrievals=0.0), "step-grpo": entry(60.0, retrievals=1.5)},
        "demo_tabfact": {"direct": entry(40.0, retrievals=0.0), "step-grpo": entry(50.0, retrievals=0.5)},
    }
    metrics["demo_webqa"]["step-grpo"]["f1_recall_ci95"] = [45.0, 75.0]
    stats = {
        "avg": {"step-grpo": {"f1_recall": 55.0, "f1_recall_ci95": [47.5, 62.5]}},
        "comparisons": [{"a": "step-grpo", "b": "direct", "diff": 25.0, "ci95": [12.5, 37.5], "p_value": 0.0123}],
    }
    text = table1_markdown(metrics, title="t", provenance={}, stats=stats)
    [row] = [line for line in text.splitlines() if line.startswith("| step-grpo |") and "±" in line]
    assert "**60.00** ± 15.0" in row and "**55.00** ± 7.5" in row  # a cell's and the Avg.'s half-widths
    assert "| step-grpo − direct | +25.00 | [+12.50, +37.50] | 0.0123 |" in text
    assert "| step-grpo | 55.00 | 1.00 | 55.00 | 0.5 |" in text  # Avg. F1, retrievals, F1 per retrieval, seconds
    assert "| direct | 30.00 | 0.00 | – | 0.5 |" in text
    assert "## Paired comparisons" not in table1_markdown(metrics, title="t", provenance={})


def test_chance_levels_and_unguessable_f1_are_reported():
    metrics = {
        "demo_tabfact": {"direct": entry(50.0), "step-grpo": entry(60.0)},
        "demo_webqa": {"direct": entry(20.0), "step-grpo": entry(40.0)},
    }
    for method, hard in (("direct", 10.0), ("step-grpo", 30.0)):
        metrics["demo_tabfact"][method] |= {"guessable_share": 100.0, "chance_f1_recall": 50.0}
        metrics["demo_webqa"][method] |= {"guessable_share": 25.0, "chance_f1_recall": 12.5}
        metrics["demo_webqa"][method]["f1_recall_unguessable"] = hard
    text = table1_markdown(metrics, title="t", provenance={})
    assert "Chance F1-Recall: TabFact 50.00 (100 % guessable) · WebQA 12.50 (25 % guessable)." in text
    section = text.split("## F1-Recall on questions that cannot be guessed (%)")[1].split("##")[0]
    assert "| step-grpo | – | **30.00** | 30.00† |" in section  # TabFact has no unguessable question
    assert "cannot be guessed" not in table1_markdown({"demo_webqa": {"direct": entry(1.0)}}, title="t", provenance={})


def test_routing_confusion_sums_benchmarks_and_shows_a_never_chosen_kb_as_zeros():
    metrics = synthetic()
    metrics["demo_tabfact"]["step-grpo"]["routing_confusion"] = {"table": {"text": 3, "none": 1}, "none": {"none": 2}}
    metrics["demo_webqa"]["step-grpo"]["routing_confusion"] = {"none": {"not reached": 1, "text": 2}}
    text = table1_markdown(metrics, title="t", provenance={})
    rows = table(text, "Routing confusion")
    assert rows == [
        ["gold \\ chosen", "text", "table", "none", "not reached"],
        ["table", "3", "0", "1", "0"],  # the table KB was never chosen: a column of zeros, not a missing column
        ["none", "2", "0", "2", "1"],
    ]
    assert "**step-grpo**" in text and "**zz-custom**" not in text  # routers only
    assert "## Routing confusion" not in table1_markdown(synthetic(), title="t", provenance={})
