"""`git_state`: a checkout is dirty when its code or params differ from the commit, not when DVC wrote outputs."""

from __future__ import annotations

import json

from r1router.tracking import git_state


def test_files_dvc_writes_do_not_make_the_checkout_dirty(toy):
    (toy.root / "metrics").mkdir()
    (toy.root / "metrics/eval.json").write_text(json.dumps({"bench": {"sft": {"f1_recall": 1.0}}}))
    (toy.root / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    toy.commit("outputs of a run")
    clean = git_state(toy.root)
    assert clean == {"git_commit": toy.run("git", "rev-parse", "HEAD").stdout.strip(), "git_dirty": "false"}

    # What a pipeline run does to tracked files: DVC deletes a cache: false out, rewrites it, updates the lock.
    (toy.root / "metrics/eval.json").unlink()
    (toy.root / "dvc.lock").write_text("schema: '2.0'\nstages: {prep: {cmd: python stage.py prep}}\n")
    toy.run("git", "add", "dvc.lock")  # DVC's autostage
    assert git_state(toy.root) == clean


def test_edited_code_or_params_make_it_dirty_and_are_named(toy):
    (toy.root / "stage.py").write_text((toy.root / "stage.py").read_text() + "\n# an edit\n")
    (toy.root / "params.yaml").write_text((toy.root / "params.yaml").read_text().replace("scale: 3", "scale: 4"))
    state = git_state(toy.root)
    assert state["git_dirty"] == "true"
    assert state["git_dirty_paths"] == "params.yaml,stage.py"


def test_outside_git_the_state_is_unknown(tmp_path):
    assert git_state(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}
