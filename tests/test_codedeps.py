"""Code deps derived from imports: the closure walk, and dvc.yaml checked (and rewritten) against it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from r1router.codedeps import PLUMBING, check_dvc_yaml, compact, import_closure, stage_code, write_dvc_yaml

REPO = Path(__file__).resolve().parents[1]


def _project(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_the_closure_follows_lazy_relative_and_submodule_imports_but_not_type_checking(tmp_path):
    _project(
        tmp_path,
        {
            "flows/__init__.py": "",
            "flows/run.py": "from r1router.a import f\n\ndef main():\n    from r1router.pkg import lazy\n",
            "r1router/__init__.py": "",
            "r1router/a.py": (
                "from typing import TYPE_CHECKING\nfrom .b import g\nif TYPE_CHECKING:\n    import r1router.c\n"
            ),
            "r1router/b.py": "import json\n",
            "r1router/c.py": "",
            "r1router/pkg/__init__.py": "",
            "r1router/pkg/lazy.py": "",
            "r1router/unused.py": "",
        },
    )
    found = {p.relative_to(tmp_path).as_posix() for p in import_closure("flows.run", tmp_path)}
    assert found == {
        "flows/__init__.py",
        "flows/run.py",
        "r1router/__init__.py",
        "r1router/a.py",
        "r1router/b.py",  # relative import
        "r1router/pkg/__init__.py",
        "r1router/pkg/lazy.py",  # imported inside a function: still code the stage runs
    }  # r1router/c.py only under TYPE_CHECKING, r1router/unused.py never


def test_compact_writes_a_whole_package_as_its_directory(tmp_path):
    package = ["r1router/p/__init__.py", "r1router/p/x.py"]
    _project(tmp_path, dict.fromkeys(["r1router/__init__.py", *package, "r1router/q.py"], ""))
    assert compact([*package, "r1router/q.py"], tmp_path) == ["r1router/p", "r1router/q.py"]
    assert compact(["r1router/p/x.py"], tmp_path) == ["r1router/p/x.py"]


def test_plumbing_is_never_a_code_dep():
    for stage in ("world", "kb", "evaluate"):
        assert not set(stage_code(f"flows.{stage}", REPO)) & set(PLUMBING)


def test_the_repos_dvc_yaml_lists_every_stages_import_closure():
    drifts = check_dvc_yaml(REPO)
    assert not drifts, "\n".join(d.describe() for d in drifts) + "\nrun `r1router deps --write`"


def _copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for package in ("r1router", "flows", "tasks"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    return root


def test_the_check_fails_naming_an_import_removed_from_the_deps_and_write_restores_it(tmp_path):
    root = _copy_project(tmp_path)
    document = yaml.safe_load((root / "dvc.yaml").read_text())
    deps = document["stages"]["world"]["deps"]
    assert "r1router/hashing.py" in deps
    deps.remove("r1router/hashing.py")
    (root / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False))

    [drift] = check_dvc_yaml(root)
    assert drift.stage == "world"
    assert drift.missing == ("r1router/hashing.py",)
    assert "stage 'world' imports r1router/hashing.py but does not list them" in drift.describe()

    assert write_dvc_yaml(root) == ["world"]
    assert check_dvc_yaml(root) == []
    assert write_dvc_yaml(root) == []  # idempotent


def test_a_dep_on_code_the_stage_does_not_import_is_reported(tmp_path):
    root = _copy_project(tmp_path)
    document = yaml.safe_load((root / "dvc.yaml").read_text())
    document["stages"]["world"]["deps"].append("r1router/training/grpo.py")
    (root / "dvc.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    [drift] = check_dvc_yaml(root)
    assert drift.extra == ("r1router/training/grpo.py",)


def test_a_profiles_own_kind_module_is_code_of_every_stage(tmp_path):
    _project(
        tmp_path,
        {
            "flows/__init__.py": "",
            "flows/run.py": "import r1router.a\n",
            "r1router/__init__.py": "",
            "r1router/a.py": "",
            "mykinds/__init__.py": "",
            "mykinds/glossary.py": "from mykinds import helpers\n",
            "mykinds/helpers.py": "",
            "params.yaml": "profile: p\nprofiles:\n  p:\n    kinds: {glossary: 'mykinds.glossary:GlossaryKind'}\n",
        },
    )
    assert stage_code("flows.run", tmp_path) == [
        "flows/__init__.py",
        "flows/run.py",
        "mykinds/__init__.py",
        "mykinds/glossary.py",
        "mykinds/helpers.py",
        "r1router/__init__.py",
        "r1router/a.py",
    ]
