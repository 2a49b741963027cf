"""`dvc.yaml` read as data: each stage's command, deps and outs, and the DAG they imply.

dvc.yaml is the single source of truth for what each stage depends on. Code
that needs the pipeline's shape (the end-to-end flow's order, a stage's code
version for cache keys, which stage a corpus feeds) derives it from here, so
it can never drift from what `dvc repro` does.

The stages come from DVC's own loader, so `${profile}` and every other
interpolation resolve exactly as in `dvc repro`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from r1router.errors import ConfigError

DVC_FILE = "dvc.yaml"
_FLOW_CMD = re.compile(r"^python3? -m ([A-Za-z_][\w.]*)$")


@dataclass(frozen=True)
class Stage:
    """One dvc.yaml stage; `outs` includes its metrics and plots files (DVC tracks them as outputs too)."""

    name: str
    cmd: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]

    @property
    def module(self) -> str:
        """The Python module the stage runs, from a `python -m <module>` command."""
        match = _FLOW_CMD.match(self.cmd.strip())
        if match is None:
            raise ConfigError(f"{DVC_FILE}: stage '{self.name}' cmd '{self.cmd}' is not 'python -m <module>'")
        return match.group(1)


def load_stages(root: str | Path = ".") -> dict[str, Stage]:
    """Every stage of `root/dvc.yaml` in file order, as DVC itself loads and interpolates it."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    root = Path(root).resolve()
    if not (root / ".dvc").is_dir() or not (root / DVC_FILE).is_file():
        raise ConfigError(f"{root}: not a DVC project with a {DVC_FILE}")
    with Repo(str(root)) as repo:
        loaded = repo.stage.load_file(str(root / DVC_FILE))
        return {
            stage.name: Stage(
                name=stage.name,
                cmd=stage.cmd if isinstance(stage.cmd, str) else " && ".join(stage.cmd),
                deps=tuple(dep.def_path for dep in stage.deps if not isinstance(dep, ParamsDependency)),
                outs=tuple(out.def_path for out in stage.outs),
            )
            for stage in loaded
        }


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it (how DVC links a dep to an out)."""
    pa, pb = PurePosixPath(a), PurePosixPath(b)
    return pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa)


def upstream(stages: Mapping[str, Stage]) -> dict[str, frozenset[str]]:
    """For each stage, the stages whose outs overlap one of its deps (its direct parents in `dvc dag`)."""
    return {
        name: frozenset(
            other.name
            for other in stages.values()
            if other.name != name and any(overlaps(dep, out) for dep in stage.deps for out in other.outs)
        )
        for name, stage in stages.items()
    }


def topological_order(stages: Mapping[str, Stage]) -> list[str]:
    """Stages with every parent first; ties keep dvc.yaml's order, so the order is deterministic."""
    parents = upstream(stages)
    order: list[str] = []
    while len(order) < len(stages):
        ready = [name for name in stages if name not in order and parents[name] <= set(order)]
        if not ready:
            cycle = sorted(set(stages) - set(order))
            raise ConfigError(f"{DVC_FILE}: the stages {cycle} depend on each other in a cycle")
        order.append(ready[0])
    return order


def consumers(stages: Mapping[str, Stage], path: str) -> list[str]:
    """Stages with a dep that overlaps `path`: the ones DVC re-runs first when `path` changes."""
    return [name for name, stage in stages.items() if any(overlaps(path, dep) for dep in stage.deps)]


def producers(stages: Mapping[str, Stage], path: str) -> list[str]:
    """Stages whose outs overlap `path` (DVC would overwrite or delete it when they run)."""
    return [name for name, stage in stages.items() if any(overlaps(path, out) for out in stage.outs)]


def code_deps(stage: Stage, root: str | Path) -> list[Path]:
    """The stage's deps that are Python code: `.py` files and package directories.

    A directory is a package when it has an `__init__.py` or sits in a package
    (a namespace subpackage such as `r1router/kb`); data and model directories
    are neither, so they are never walked.
    """

    def is_code(path: Path) -> bool:
        if path.is_file():
            return path.suffix == ".py"
        return path.is_dir() and ((path / "__init__.py").is_file() or (path.parent / "__init__.py").is_file())

    return [Path(root) / dep for dep in stage.deps if is_code(Path(root) / dep)]
