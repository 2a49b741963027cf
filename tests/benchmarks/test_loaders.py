"""Demo records load into the shared schema; every kind of bad input names file, line and field."""

import json
from pathlib import Path

import pytest

from r1router.benchmarks import DEMO_BENCHMARKS, PlanStep, load_benchmark, load_split, resolve_image
from r1router.benchmarks.registry import RELEASE_ENV, default_release_dir, release_path
from r1router.errors import ConfigError, DataError

STEP = {"sub_question": "Who directed Blue Lantern?", "kb": "text", "answer": "Ilsa Varn", "evidence": ["t-17"]}


def demo_record(**changes):
    record = {
        "question_id": "q1",
        "question": "Where was the director of Blue Lantern born?",
        "answer": "Korvath",
        "gold_plan": [STEP, {**STEP, "sub_question": "Where was Ilsa Varn born?", "answer": "Korvath"}],
        "entity_split": "seen",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not None}


def write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_demo_record(tmp_path):
    path = write(tmp_path / "dev.jsonl", [demo_record(), demo_record(question_id="q2", entity_split="unseen")])
    first, second = load_benchmark(path, "demo_2wikimultihopqa")
    assert first.qid == "q1" and first.golds == ["Korvath"] and first.dataset == "demo_2wikimultihopqa"
    assert first.gold_plan[0] == PlanStep("Who directed Blue Lantern?", "text", "Ilsa Varn", ["t-17"])
    assert first.extra == {"entity_split": "seen"}
    assert second.extra["entity_split"] == "unseen"


def test_an_empty_gold_plan_is_a_question_answered_without_retrieving(tmp_path):
    """A released trajectory may stop at its first decision; its plan is then empty, not malformed."""
    path = write(tmp_path / "dev.jsonl", [demo_record(gold_plan=[])])
    assert load_benchmark(path, "demo_2wikimultihopqa")[0].gold_plan == []


def test_a_question_with_a_missing_image_fails_or_is_kept_text_only_and_marked(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "img-1.png").write_bytes(b"png")
    rows = [demo_record(answer=["K"], image_id="img-1"), demo_record(question_id="q2", answer=["K"], image_id="img-2")]
    path = write(tmp_path / "dev.jsonl", rows)
    with pytest.raises(DataError, match=r"dev\.jsonl, line 2, field 'image_id': image img-2"):
        load_benchmark(path, "demo_webqa", images)
    first, second = load_benchmark(path, "demo_webqa", images, missing_images="text-only")
    assert first.image_id == "img-1" and "image_missing" not in first.extra
    assert second.image_id is None and second.extra["image_missing"] is True


def test_demo_image_record_and_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "img-1.png").write_bytes(b"png")
    (images / "img-2.jpeg").write_bytes(b"jpeg")
    step = {**STEP, "kb": "image"}
    records = [
        demo_record(answer=["Korvath"], image_id="img-1", gold_plan=[step]),
        demo_record(question_id="q2", answer=["Korvath"], image_id="img-2", gold_plan=[step]),
    ]
    path = write(tmp_path / "test.jsonl", records)
    questions = load_benchmark(path, "demo_webqa", image_root=images)
    assert [q.image_id for q in questions] == ["img-1", "img-2"]
    assert resolve_image(images, "img-2") == images / "img-2.jpeg"
    with pytest.raises(DataError, match="image_id"):
        resolve_image(images, "img-3")


def check_error(path, dataset, line, field, image_root=None):
    with pytest.raises(DataError) as info:
        load_benchmark(path, dataset, image_root=image_root)
    error = info.value
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert str(path) in str(error) and f"line {line}" in str(error) and f"field '{field}'" in str(error)
    return error


GOOD_TEXT = {"question": "q?", "answer": "a"}
GOOD_IMAGE = {"question": "q?", "answer": ["a"], "image_id": "1"}
GOOD_INFOSEEK = {"data_id": "i1", "image_id": "oven_1", "question": "q?", "answer": ["a"], "answer_eval": ["a"]}
GOOD = {
    "webqa": GOOD_IMAGE,
    "dyn_vqa": GOOD_IMAGE,
    "infoseek": GOOD_INFOSEEK,
    "demo_tabfact": demo_record(question_id="q0"),
}


@pytest.mark.parametrize(
    ("dataset", "bad", "field"),
    [
        ("2wikimultihopqa", {"answer": "a"}, "question"),
        ("2wikimultihopqa", {"question": "q?"}, "answer"),
        ("tabfact", {"question": "q?", "answer": 1}, "answer"),
        ("openwikitqa", {"question": "q?", "answer": "  "}, "answer"),
        ("openwikitqa", {"question": ["q?"], "answer": "a"}, "question"),
        ("webqa", {"question": "q?", "answer": "a", "image_id": "1"}, "answer"),
        ("webqa", {"question": "q?", "answer": ["a", 3], "image_id": "1"}, "answer[1]"),
        ("webqa", {"question": "q?", "answer": []}, "answer"),
        ("webqa", {"question": "q?", "answer": ["a"]}, "image_id"),
        ("dyn_vqa", {"question": "q?", "answer": [{"x": 1}], "image_id": 3}, "answer[0]"),
        ("dyn_vqa", {"question": "q?", "answer": [True], "image_id": 3}, "answer[0]"),
        ("dyn_vqa", {"question": "q?", "answer": ["a"], "image_id": 3.5}, "image_id"),
        ("infoseek", {**GOOD_INFOSEEK, "answer_eval": ["a", 7]}, "answer_eval[1]"),
        ("infoseek", {**GOOD_INFOSEEK, "answer_eval": [{"wikidata": 1.0}]}, "answer_eval[0]"),
        ("infoseek", {**GOOD_INFOSEEK, "answer_eval": [{"wikidata": 1.0, "range": [2.0]}]}, "answer_eval[0]"),
        ("infoseek", {**GOOD_INFOSEEK, "answer_eval": [{"wikidata": 1.0, "range": [3, 2]}]}, "answer_eval[0]"),
        ("infoseek", {**GOOD_INFOSEEK, "answer_eval": []}, "answer_eval"),
        ("infoseek", {k: v for k, v in GOOD_INFOSEEK.items() if k != "answer_eval"}, "answer_eval"),
        ("demo_tabfact", demo_record(question_id=None), "question_id"),
        ("demo_tabfact", demo_record(entity_split=None), "entity_split"),
        ("demo_tabfact", demo_record(entity_split="both"), "entity_split"),
        ("demo_tabfact", demo_record(gold_plan=None), "gold_plan"),
        ("demo_tabfact", demo_record(gold_plan=["step"]), "gold_plan[0]"),
        ("demo_tabfact", demo_record(gold_plan=[STEP, {**STEP, "kb": "web"}]), "gold_plan[1].kb"),
        ("demo_tabfact", demo_record(gold_plan=[{**STEP, "hop": 1}]), "gold_plan[0]"),
        ("demo_tabfact", demo_record(gold_plan=[{**STEP, "evidence": "t-1"}]), "gold_plan[0].evidence"),
        ("demo_tabfact", demo_record(gold_plan=[{**STEP, "evidence": ["t-1", 2]}]), "gold_plan[0].evidence[1]"),
        ("demo_tabfact", demo_record(gold_plan=[{**STEP, "sub_question": ""}]), "gold_plan[0].sub_question"),
    ],
)
def test_bad_record(tmp_path, dataset, bad, field):
    path = write(tmp_path / "bad.jsonl", [GOOD.get(dataset, GOOD_TEXT), "", bad])  # the blank line still counts
    check_error(path, dataset, 3, field)


def test_malformed_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", [GOOD_TEXT, '{"question": "q?", "answer": '])
    with pytest.raises(DataError, match=r"bad.jsonl, line 2: malformed JSON"):
        load_benchmark(path, "tabfact")


def test_duplicate_ids(tmp_path):
    path = write(tmp_path / "dev.jsonl", [demo_record(), demo_record()])
    error = check_error(path, "demo_openwikitqa", 2, "question_id")
    assert "duplicate id 'q1' (first on line 1)" in str(error)


def test_missing_image(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "1.jpg").write_bytes(b"jpg")
    records = [GOOD_IMAGE, {**GOOD_IMAGE, "image_id": "2"}]
    path = write(tmp_path / "webqa.jsonl", records)
    check_error(path, "webqa", 2, "image_id", image_root=images)
    with pytest.raises(DataError, match="image directory not found"):
        load_benchmark(path, "webqa", image_root=tmp_path / "nope")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="no questions"):
        load_benchmark(write(tmp_path / "empty.jsonl", []), "tabfact")
    with pytest.raises(DataError, match="file not found"):
        load_benchmark(tmp_path / "none.jsonl", "tabfact")


def test_unknown_dataset(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'hotpotqa'"):
        load_benchmark(write(tmp_path / "q.jsonl", [GOOD_TEXT]), "hotpotqa")


def test_load_split(tmp_path):
    world = tmp_path / "world"
    (world / "images").mkdir(parents=True)
    (world / "images" / "v1.png").write_bytes(b"png")
    image_step = [{**STEP, "kb": "image"}]
    for name in DEMO_BENCHMARKS:
        record = demo_record(question_id=f"{name}-1")
        if name in {"demo_infoseek", "demo_dyn_vqa", "demo_webqa"}:
            record.update(answer=["Korvath"], image_id="v1", gold_plan=image_step)
        if name == "demo_infoseek":
            record["answer_eval"] = ["Korvath", {"wikidata": 3.0, "range": [2.5, 3.5]}]
        write(world / "questions" / name / "dev.jsonl", [record])
    questions = load_split(world, "dev")
    assert [q.dataset for q in questions] == list(DEMO_BENCHMARKS)
    infoseek = next(q for q in questions if q.dataset == "demo_infoseek")
    assert infoseek.golds == ["Korvath"] and infoseek.gold_ranges == [(2.5, 3.5)]
    with pytest.raises(ConfigError, match="unknown split"):
        load_split(world, "val")
    with pytest.raises(ConfigError, match="no benchmark has a test split"):
        load_split(world, "test")
    with pytest.raises(DataError, match="file not found"):  # a benchmark named explicitly must have the split
        load_split(world, "test", ("demo_webqa",))
    write(world / "questions" / "release_text" / "train.jsonl", [demo_record(question_id="r1", answer=["K"])])
    assert [q.dataset for q in load_split(world, "train")] == ["release_text"]  # only the benchmarks with the split
    (world / "questions" / "mystery").mkdir()
    with pytest.raises(ConfigError, match=r"unknown benchmark folder\(s\) \['mystery'\]"):
        load_split(world, "dev")


def test_release_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(RELEASE_ENV, str(tmp_path))
    assert default_release_dir() == tmp_path
    assert release_path("dyn_vqa") == tmp_path / "DynVQA_en.202412.jsonl"
    monkeypatch.delenv(RELEASE_ENV)
    repo_root = Path(__file__).resolve().parents[2]
    assert default_release_dir() == repo_root.parent / "shared" / "data" / "r1router-release"
    with pytest.raises(ConfigError, match="no released file"):
        release_path("demo_webqa")
