"""`r1router repro` on the toy project: parent and stage runs, lineage tags equal to dvc.lock, `r1router lineage`."""

from __future__ import annotations

import hashlib
import json

import mlflow
import pytest
import yaml

from r1router.dvcfile import load_stages
from r1router.lineage_trace import LineageError, format_lineage, trace

pytestmark = pytest.mark.slow


def lock_hashes(toy, stage: str, kind: str) -> dict[str, str]:
    entry = yaml.safe_load((toy.root / "dvc.lock").read_text())["stages"][stage]
    return {item["path"]: item["md5"] for item in entry[kind]}


def tagged(run: dict, prefix: str) -> dict[str, str]:
    return {key[len(prefix) :]: value for key, value in run["tags"].items() if key.startswith(prefix)}


def stage_runs(runs: list[dict]) -> dict[str, dict]:
    """The newest run of each stage."""
    return {run["tags"]["stage"]: run for run in runs if "stage" in run["tags"]}


@pytest.fixture
def in_toy(monkeypatch):
    """Point this process's MLflow at a toy's store, as the CLI in the toy's directory would be."""
    return lambda toy: monkeypatch.setenv("MLFLOW_TRACKING_URI", toy.env["MLFLOW_TRACKING_URI"])


@pytest.fixture(scope="module")
def first(new_toy):
    """The toy pipeline after one `r1router repro`: (toy, runs after it)."""
    toy = new_toy()
    proc = toy.r1router("repro")
    assert "pipeline run" in proc.stdout and "FINISHED" in proc.stdout
    return toy, toy.runs()


@pytest.fixture(scope="module")
def second(first):
    """Then b.txt changes: prep and evaluate re-run; train (which reads only data/prep/a.txt) does not."""
    toy, runs = first
    (toy.root / "raw/toy/b.txt").write_text("beta, revised\n")
    proc = toy.r1router("repro")
    assert "Running stage 'prep'" in proc.stdout and "Running stage 'evaluate'" in proc.stdout
    assert "Running stage 'train'" not in proc.stdout
    return toy, runs, toy.runs()


def test_stage_deps_and_outs_come_from_dvc_yaml_with_profile_interpolated(first):
    toy, _ = first
    stages = load_stages(toy.root)
    assert list(stages["prep"].deps) == ["stage.py", "raw/toy"]
    assert list(stages["prep"].outs) == ["data/prep"]
    assert list(stages["evaluate"].deps) == ["stage.py", "model.txt", "data/prep"]
    assert list(stages["evaluate"].outs) == ["metrics/eval.json"]


def test_stage_runs_list_their_data_deps_as_mlflow_datasets_with_the_dvc_lock_hashes(first):
    """MLflow's Datasets column: each dep (the toy has no code package deps) with the md5 dvc.lock records."""
    toy, runs = first
    client = mlflow.MlflowClient(toy.env["MLFLOW_TRACKING_URI"])
    for stage, run in stage_runs(runs).items():
        inputs = client.get_run(run["id"]).inputs.dataset_inputs
        assert {i.dataset.name: i.dataset.digest for i in inputs} == lock_hashes(toy, stage, "deps"), stage
        assert {tag.value for i in inputs for tag in i.tags} == {"dvc.dep"}


def test_one_parent_run_with_every_stage_run_as_its_child(first):
    toy, runs = first
    [parent] = [run for run in runs if run["tags"].get("r1router.kind") == "pipeline"]
    assert parent["status"] == "FINISHED"
    tags = parent["tags"]
    assert tags["dvc.lock_md5.before"] == "absent"
    assert tags["dvc.lock_md5.after"] == hashlib.md5((toy.root / "dvc.lock").read_bytes()).hexdigest()
    assert tags["git_commit"] == toy.run("git", "rev-parse", "HEAD").stdout.strip()
    assert len(tags["params_hash"]) == 16 and tags["profile"] == "toy"
    stages = stage_runs(runs)
    assert set(stages) == {"prep", "train", "evaluate"}
    for run in stages.values():
        assert run["status"] == "FINISHED"
        assert run["tags"]["mlflow.parentRunId"] == parent["id"]
        assert run["tags"]["dvc.repro"] == "true"  # DVC sets DVC_STAGE for the commands it runs
        assert run["tags"]["dvc.lock_present"] == "false"
        assert {"git_commit", "git_dirty", "params_hash"} <= set(run["tags"])


def test_every_stage_run_is_tagged_with_the_hashes_dvc_lock_records(first):
    toy, runs = first
    for stage, run in stage_runs(runs).items():
        assert tagged(run, "dvc.dep.") == lock_hashes(toy, stage, "deps"), stage
        outs = tagged(run, "dvc.out.")
        for path, md5 in lock_hashes(toy, stage, "outs").items():
            assert outs.pop(path) == md5, (stage, path)
        # What is left: paths inside an out that another stage depends on, hashed as that stage's dep.
        if stage == "prep":
            assert outs == {"data/prep/a.txt": lock_hashes(toy, "train", "deps")["data/prep/a.txt"]}
        else:
            assert outs == {}


def test_tags_hold_the_new_content_not_the_stale_lock_entry(second):
    toy, before, after = second
    old, new = stage_runs(before), stage_runs(after)
    assert new["prep"]["id"] != old["prep"]["id"] and new["evaluate"]["id"] != old["evaluate"]["id"]
    assert new["train"]["id"] == old["train"]["id"]
    # While prep ran, dvc.lock still held the old raw/toy hash; the tag holds what dvc.lock holds now.
    assert new["prep"]["tags"]["dvc.deps_changed"] == "raw/toy"
    assert new["prep"]["tags"]["dvc.lock_present"] == "true"
    assert tagged(new["prep"], "dvc.dep.")["raw/toy"] != tagged(old["prep"], "dvc.dep.")["raw/toy"]
    for stage in ("prep", "evaluate"):
        assert tagged(new[stage], "dvc.dep.") == lock_hashes(toy, stage, "deps"), stage
    assert new["evaluate"]["tags"]["dvc.deps_changed"] == "data/prep"
    parents = [run for run in after if run["tags"].get("r1router.kind") == "pipeline"]
    assert parents[-1]["tags"]["dvc.lock_md5.before"] == parents[0]["tags"]["dvc.lock_md5.after"]


def test_lineage_of_a_metric_name_walks_back_to_the_sources(second):
    toy, before, after = second
    old, new = stage_runs(before), stage_runs(after)
    out = json.loads(toy.r1router("lineage", "bench.sft.f1_recall", "--json").stdout)
    assert out["metric"]["run_id"] == new["evaluate"]["id"]
    score = json.loads((toy.root / "metrics/eval.json").read_text())["bench"]["sft"]["f1_recall"]
    assert out["metric"]["value"] == score
    # Newest first; both prep runs appear: evaluate read the second one's data/prep, train the first one's a.txt.
    assert [(node["stage"], node["run_id"]) for node in out["stages"]] == [
        ("evaluate", new["evaluate"]["id"]),
        ("prep", new["prep"]["id"]),
        ("train", old["train"]["id"]),
        ("prep", old["prep"]["id"]),
    ]
    evaluate, _, train, _ = out["stages"]
    assert evaluate["params"] == {"offset": "10"}
    assert evaluate["params_hash"] == new["evaluate"]["tags"]["params_hash"]
    assert evaluate["git_commit"] == new["evaluate"]["tags"]["git_commit"]
    assert evaluate["pipeline_run"] == new["evaluate"]["tags"]["mlflow.parentRunId"]
    deps = {dep["path"]: dep for dep in evaluate["deps"]}
    assert {path: dep["hash"] for path, dep in deps.items()} == lock_hashes(toy, "evaluate", "deps")
    assert deps["data/prep"]["upstream_run"] == new["prep"]["id"]
    # train did not re-run: the model evaluate read is the one the first pipeline run's train wrote...
    assert deps["model.txt"]["upstream_run"] == old["train"]["id"]
    assert deps["stage.py"]["producer"] is None and deps["stage.py"]["upstream_run"] is None
    # ...from data/prep/a.txt of the first prep run (the second one wrote the same bytes, but started later).
    [train_dep] = [dep for dep in train["deps"] if dep["path"] == "data/prep/a.txt"]
    assert train_dep["producer"] == "prep" and train_dep["upstream_run"] == old["prep"]["id"]


def test_lineage_of_a_per_method_run_and_of_a_metrics_file_key_reach_the_same_stage_run(second, in_toy):
    toy, _, after = second
    in_toy(toy)
    evaluate = stage_runs(after)["evaluate"]["id"]
    by_child = trace("bench.f1_recall", toy.root)
    assert by_child.stages[0].run_id == evaluate
    assert by_child.metric["run_id"] != evaluate  # the nested per-method run that logged it
    by_file = trace("metrics/eval.json:bench.sft.f1_recall", toy.root)
    assert by_file.stages[0].run_id == evaluate
    assert by_file.metric["md5"] == lock_hashes(toy, "evaluate", "outs")["metrics/eval.json"]
    by_id = trace(evaluate, toy.root)
    assert [node.run_id for node in by_id.stages] == [node.run_id for node in by_file.stages]
    text = format_lineage(by_file)
    assert text.startswith("bench.sft.f1_recall = ")
    assert f"evaluate  run {evaluate}  FINISHED" in text
    assert "<- prep run" in text and "<- train run" in text and "source" in text


def test_lineage_errors_name_what_did_not_match(second, in_toy):
    toy, _, _ = second
    in_toy(toy)
    proc = toy.r1router("lineage", "bench.sft.f1_recal", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no run logged metric 'bench.sft.f1_recal'; did you mean: bench.sft.f1_recall" in proc.stderr
    with pytest.raises(LineageError, match=f"no run '{'0' * 32}'"):
        trace("0" * 32, toy.root)
    with pytest.raises(LineageError, match=r"no key 'bench.rl.f1_recall' .*keys there: sft"):
        trace("metrics/eval.json:bench.rl.f1_recall", toy.root)
    pipeline = next(run for run in toy.runs() if run["tags"].get("r1router.kind") == "pipeline")
    with pytest.raises(LineageError, match="is a pipeline run"):
        trace(pipeline["id"], toy.root)
    metrics = toy.root / "metrics/eval.json"
    original = metrics.read_text()
    metrics.write_text('{"bench": {"sft": {"f1_recall": 1.0}}}')
    try:
        with pytest.raises(LineageError, match=r"no finished run .* wrote this file as it is now"):
            trace("metrics/eval.json:bench.sft.f1_recall", toy.root)
    finally:
        metrics.write_text(original)
