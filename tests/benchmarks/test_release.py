"""The paper's six released validation files load with the same loader as our demo files."""

import pytest

from r1router.benchmarks import RELEASE_FILES, load_benchmark, release_path

# Records per file. openwikitqa_val.jsonl has 3000 records but `wc -l` says 2999: no final newline.
EXPECTED = {
    "2wikimultihopqa": 3000,
    "openwikitqa": 3000,
    "tabfact": 1000,
    "infoseek": 1000,
    "dyn_vqa": 715,
    "webqa": 1000,
}
IMAGE_DATASETS = {"infoseek", "dyn_vqa", "webqa"}


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_release_file_loads(release_dir, dataset):
    questions = load_benchmark(release_path(dataset, release_dir), dataset)
    assert len(questions) == EXPECTED[dataset]
    assert len({q.qid for q in questions}) == len(questions)
    for question in questions:
        assert question.dataset == dataset
        assert question.question.strip()
        assert question.golds and all(isinstance(g, str) and g.strip() for g in question.golds)
        assert (question.image_id is not None) == (dataset in IMAGE_DATASETS)
        assert question.gold_plan is None


def test_infoseek_golds_and_ranges(release_dir):
    questions = load_benchmark(release_path("infoseek", release_dir), "infoseek")
    by_id = {q.qid: q for q in questions}
    first = by_id["infoseek_val_00000000"]
    assert first.golds == ["energy conversion", "energy transformation", "conversion"]
    assert first.gold_ranges == []
    numeric = by_id["infoseek_val_00000002"]
    assert numeric.gold_ranges == [(6.5, 7.0)]
    assert numeric.golds == ["6.5-7.0"]
    assert sum(bool(q.gold_ranges) for q in questions) == 248
    assert all(lo <= hi for q in questions for lo, hi in q.gold_ranges)


def test_dyn_vqa_quirks(release_dir):
    questions = load_benchmark(release_path("dyn_vqa", release_dir), "dyn_vqa")
    by_id = {q.qid: q for q in questions}
    assert by_id["en1"].image_id == "1"  # integer image ids become strings
    assert by_id["en1"].extra["gloden_query"].startswith("What is the name of Leonardo")
    assert by_id["en73"].golds[0] == "2016"  # numbers among the answers become strings, duplicates dropped
    assert len(by_id["en73"].golds) == len(set(by_id["en73"].golds))
    assert by_id["en625"].extra["gloden_query"] is None  # NaN in the file


def test_text_datasets_get_line_ids(release_dir):
    questions = load_benchmark(release_path("2wikimultihopqa", release_dir), "2wikimultihopqa")
    assert questions[0].qid == "2wikimultihopqa-1"
    assert questions[0].golds == ["Małgorzata Braunek"]


def test_every_paper_dataset_has_a_release_file():
    assert set(RELEASE_FILES) == set(EXPECTED)
