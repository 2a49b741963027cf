"""Which project files can change a stage's output: the static import closure of the stage's flow.

A stage runs `python -m flows.<stage>`; every project module that this module
imports, directly or through others, at module level or inside a function,
can change what the stage writes. That closure, minus the tracking plumbing
below, is the stage's code: `dvc.yaml` lists it as the stage's code deps
(`r1router deps --write` writes them, `r1router deps --check` and
`tests/test_codedeps.py` fail naming every missing or stale entry) and
`tasks.caching.code_version` hashes it for Prefect's cache key, so DVC and
Prefect re-run a stage for exactly the same edits.

Only imports are followed, plus the modules of the active profile's own KB
kinds (`profiles.<profile>.kinds`, imported by name when a stage starts), which
join every stage's closure. Any other module loaded by name at run time is not
seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from r1router.dvcfile import DVC_FILE, flow_module
from r1router.errors import ConfigError

PROJECT_PACKAGES = ("r1router", "flows", "tasks")

# The one place that says which imported files cannot change a stage's output bytes, and why.
# They are left out of the code deps, so editing them re-runs nothing.
PLUMBING: Mapping[str, str] = {
    "r1router/tracking.py": "MLflow runs, params and tags: what is recorded about a stage's outputs, not the outputs",
    "r1router/lineage.py": "the dvc.dep/dvc.out hash tags of a stage run: records, not outputs",
    "r1router/lineage_trace.py": "reads MLflow runs back for `r1router lineage`",
    "r1router/locking.py": "the pipeline lock decides who may run, not what is written",
    "r1router/prefect_server.py": "where the Prefect API runs",
    "r1router/progress.py": "rate and ETA log lines",
    "r1router/dvcfile.py": "reads dvc.yaml for the lock, lineage and cache keys",
    "r1router/codedeps.py": "computes this list",
    "tasks/caching.py": "decides whether a task re-runs (its key covers the code), never what it writes",
}


@dataclass(frozen=True)
class DepsDrift:
    """How a stage's code deps in dvc.yaml differ from what `compact(stage_code(...))` says they must be."""

    stage: str
    missing: tuple[str, ...]  # imported project files that no dep covers
    extra: tuple[str, ...]  # code deps that are not in the derived list: not imported, plumbing, or too broad

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"imports {', '.join(self.missing)} but does not list them")
        if self.extra:
            parts.append(f"lists {', '.join(self.extra)} beyond what it imports")
        return f"dvc.yaml stage '{self.stage}' " + "; ".join(parts)


def plugin_modules(root: Path) -> list[str]:
    """Modules of the active profile's own KB kinds (`profiles.<profile>.kinds`) that live in this checkout."""
    params = root / "params.yaml"
    if not params.is_file():
        return []
    from r1router.kb.kinds import profile_kind_specs

    modules = [spec.partition(":")[0] for spec in profile_kind_specs(params).values()]
    return [m for m in modules if module_file(m, root, (m.split(".")[0],)) is not None]


def code_packages(root: Path) -> tuple[str, ...]:
    """Top-level packages whose files can be stage code: the project's, and those of its plugin kinds."""
    extra = sorted({m.split(".")[0] for m in plugin_modules(root)} - set(PROJECT_PACKAGES))
    return (*PROJECT_PACKAGES, *extra)


def module_file(module: str, root: Path, packages: tuple[str, ...] = PROJECT_PACKAGES) -> Path | None:
    """The file of a module of `packages` (`a.b` → `a/b.py` or `a/b/__init__.py`), or None for anything else."""
    if module.split(".")[0] not in packages:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path, root: Path) -> str:
    """The package relative imports in `path` start from (for `a/b/c.py` and `a/b/__init__.py` alike: `a.b`)."""
    return ".".join(path.relative_to(root).parts[:-1])


def _py_files(directory: Path, root: Path) -> list[str]:
    """Repo-relative `.py` files below `directory`, bytecode caches left out."""
    return sorted(p.relative_to(root).as_posix() for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, root: Path) -> set[str]:
    """Every module name `path` imports anywhere (functions included, `if TYPE_CHECKING:` blocks excluded).

    `from a import b` yields both `a` and `a.b`: `b` may be a submodule;
    names that are not modules resolve to no file and drop out later.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and _is_type_checking(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    package = _package_of(path, root)
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(module: str) -> list[str]:
    """`a.b.c` → `a`, `a.b`, `a.b.c`: importing a module runs its packages' `__init__` first."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_closure(
    modules: str | Iterable[str], root: str | Path, packages: tuple[str, ...] = PROJECT_PACKAGES
) -> set[Path]:
    """Every file of `packages` that importing `modules` (or running one with `python -m`) imports, theirs included."""
    root = Path(root).resolve()
    todo: list[Path] = []
    for module in [modules] if isinstance(modules, str) else modules:
        if module_file(module, root, packages) is None:
            raise ConfigError(f"{module}: not a module of this project under {root}")
        todo.extend(f for m in _with_parents(module) if (f := module_file(m, root, packages)) is not None)
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path, root):
            for parent in _with_parents(name):
                found = module_file(parent, root, packages)
                if found is not None and found not in seen:
                    todo.append(found)
    return seen


def stage_code(module: str, root: str | Path) -> list[str]:
    """The stage's code files (repo-relative, POSIX, sorted): its import closure and its plugin kinds', minus
    `PLUMBING`."""
    root = Path(root).resolve()
    closure = import_closure([module, *plugin_modules(root)], root, code_packages(root))
    files = (path.relative_to(root).as_posix() for path in closure)
    return sorted(f for f in files if f not in PLUMBING)


def compact(files: Iterable[str], root: str | Path) -> list[str]:
    """`files` with every package directory whose `.py` files are all among them written as the directory.

    Keeps dvc.yaml readable (`r1router/world` rather than its 15 files); a file
    added to such a directory later and not imported makes the check fail,
    and `r1router deps --write` lists the files again.
    """
    root = Path(root).resolve()
    wanted = set(files)
    result: list[str] = []

    def visit(directory: Path) -> None:
        rel = directory.relative_to(root).as_posix()
        members = _py_files(directory, root)
        if members and set(members) <= wanted and rel not in packages:
            result.append(rel)
            return
        for path in sorted(directory.iterdir()):
            rel_path = path.relative_to(root).as_posix()
            if path.is_dir() and path.name != "__pycache__":
                visit(path)
            elif rel_path in wanted:
                result.append(rel_path)

    packages = code_packages(root)
    for package in packages:
        if (root / package).is_dir():
            visit(root / package)
        elif f"{package}.py" in wanted:
            result.append(f"{package}.py")
    return result


def is_code_dep(dep: str, packages: tuple[str, ...] = PROJECT_PACKAGES) -> bool:
    """Whether a dvc.yaml dep names code of `packages` (as opposed to data, models or outputs)."""
    top = PurePosixPath(dep).parts[0] if dep else ""
    return top in packages or top.removesuffix(".py") in packages


def expand(deps: Iterable[str], root: str | Path) -> set[str]:
    """The `.py` files that code deps cover (a directory covers every `.py` file below it)."""
    root = Path(root).resolve()
    files: set[str] = set()
    for dep in deps:
        path = root / dep
        if path.is_dir():
            files.update(_py_files(path, root))
        else:
            files.add(PurePosixPath(dep).as_posix())
    return files


def derived_deps(module: str, root: str | Path) -> list[str]:
    """What a stage running `python -m <module>` must list as code deps in dvc.yaml."""
    return compact(stage_code(module, root), root)


def drift(stage: str, module: str, deps: Iterable[str], root: str | Path) -> DepsDrift:
    """Compare a stage's code deps in dvc.yaml with its derived list."""
    packages = code_packages(Path(root).resolve())
    code = [dep for dep in deps if is_code_dep(dep, packages)]
    files = stage_code(module, root)
    derived = compact(files, root)
    missing = tuple(sorted(set(files) - expand(code, root)))
    extra = tuple(dep for dep in code if dep not in derived)
    return DepsDrift(stage, missing, extra)


def _raw_stages(root: Path) -> tuple[Any, Any]:
    """dvc.yaml as a round-trip document (comments and order kept) and its `stages` mapping."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load((root / DVC_FILE).read_text(encoding="utf-8"))
    return yaml, document


def _module(stage: Mapping[str, Any]) -> str | None:
    cmd = stage.get("cmd")
    return flow_module(cmd) if isinstance(cmd, str) else None


def check_dvc_yaml(root: str | Path = ".") -> list[DepsDrift]:
    """Every stage of `root/dvc.yaml` that runs a flow and whose code deps differ from its import closure."""
    root = Path(root).resolve()
    _, document = _raw_stages(root)
    drifts = []
    for name, stage in document["stages"].items():
        module = _module(stage)
        if module is not None:
            found = drift(name, module, [str(dep) for dep in stage.get("deps", [])], root)
            if found:
                drifts.append(found)
    return drifts


def write_dvc_yaml(root: str | Path = ".") -> list[str]:
    """Rewrite each flow stage's code deps in dvc.yaml as derived (data deps first, kept as they are).

    Returns the stages whose deps changed. The file is replaced atomically.
    """
    from io import StringIO

    from r1router.io import atomic_path

    root = Path(root).resolve()
    yaml, document = _raw_stages(root)
    packages = code_packages(root)
    changed = []
    for name, stage in document["stages"].items():
        module = _module(stage)
        if module is None:
            continue
        deps = stage.get("deps", [])
        data = [dep for dep in deps if not is_code_dep(str(dep), packages)]
        derived = derived_deps(module, root)
        if [str(dep) for dep in deps] != [*map(str, data), *derived]:
            changed.append(name)
            deps.clear()
            deps.extend([*data, *derived])
    if changed:
        text = StringIO()
        yaml.dump(document, text)
        with atomic_path(root / DVC_FILE, suffix=".yaml") as tmp:
            tmp.write_text(text.getvalue(), encoding="utf-8")
    return changed
