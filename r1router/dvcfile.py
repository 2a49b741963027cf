"""`dvc.yaml` read as data: each stage's command, deps and outs, and the DAG they imply.

dvc.yaml is the single source of truth for what each stage reads and writes.
Everything that needs the pipeline's shape derives it from this module, so it
can never drift from what `dvc repro` does: the end-to-end flow's order
(`flows.pipeline`), the flow module whose import closure is a stage's code
(`r1router.codedeps`), the stages a corpus feeds (`r1router.refresh`), the stage
that wrote a traced dep (`r1router.lineage_trace`), and the DVC stage objects
whose deps and outs the lineage tags hash (`r1router.lineage`).

The stages come from DVC's own loader, so `${profile}` and every other
interpolation resolve exactly as in `dvc repro`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from r1router.errors import ConfigError

DVC_FILE = "dvc.yaml"
_FLOW_CMD = re.compile(r"^python3? -m ([A-Za-z_][\w.]*)$")
_S = TypeVar("_S")


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
        module = flow_module(self.cmd)
        if module is None:
            raise ConfigError(f"{DVC_FILE}: stage '{self.name}' cmd '{self.cmd}' is not 'python -m <module>'")
        return module


def flow_module(cmd: str) -> str | None:
    """The module of a `python -m <module>` command, or None for any other command."""
    match = _FLOW_CMD.match(cmd.strip())
    return match.group(1) if match else None


def is_dvc_project(root: str | Path) -> bool:
    """True when `root` has a `.dvc` directory and a dvc.yaml (outside one, stage runs are not DVC-tracked)."""
    return (Path(root) / ".dvc").is_dir() and (Path(root) / DVC_FILE).is_file()


@contextmanager
def dvc_stages(root: str | Path = ".") -> Iterator[dict[str, Any]]:
    """DVC's own stage objects of `root/dvc.yaml` by name, in file order, while the repo is open.

    Hashing a dep or out (`r1router.lineage`) goes through the open repo's
    filesystem and state database, so it happens inside this block; code that
    needs only paths and commands uses `load_stages`.
    """
    from dvc.repo import Repo

    root = Path(root).resolve()
    if not is_dvc_project(root):
        raise ConfigError(f"{root}: not a DVC project with a {DVC_FILE}")
    with Repo(str(root)) as repo:
        yield {stage.name: stage for stage in repo.stage.load_file(str(root / DVC_FILE))}


def path_deps(dvc_stage: Any) -> list[Any]:
    """A DVC stage's deps that are paths: DVC counts its `params:` as deps too, but they are params, not files."""
    from dvc.dependency.param import ParamsDependency

    return [dep for dep in dvc_stage.deps if not isinstance(dep, ParamsDependency)]


def load_stages(root: str | Path = ".") -> dict[str, Stage]:
    """Every stage of `root/dvc.yaml` in file order, as DVC itself loads and interpolates it."""
    with dvc_stages(root) as stages:
        return {
            name: Stage(
                name=name,
                cmd=stage.cmd if isinstance(stage.cmd, str) else " && ".join(stage.cmd),
                deps=tuple(dep.def_path for dep in path_deps(stage)),
                outs=tuple(out.def_path for out in stage.outs),
            )
            for name, stage in stages.items()
        }


def stage_named(stages: Mapping[str, _S], name: str, root: str | Path = ".") -> _S:
    """`stages[name]`, or a ConfigError naming dvc.yaml and the stages it does have (a typo is the usual cause)."""
    if name not in stages:
        raise ConfigError(f"{Path(root).resolve() / DVC_FILE}: no stage '{name}' (stages: {', '.join(stages)})")
    return stages[name]


def inside(path: str, parent: str) -> bool:
    """True when `path` is `parent` or lies below it (a file of an out directory belongs to that out)."""
    return PurePosixPath(path).is_relative_to(PurePosixPath(parent))


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it (how DVC links a dep to an out)."""
    return inside(a, b) or inside(b, a)


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


def producer_of(stages: Mapping[str, Stage], path: str) -> str | None:
    """The stage whose out holds `path` (the out itself or a directory above it), or None for a source.

    Narrower than `producers`: an out *below* `path` does not make its stage the
    writer of `path`, because a stage run records hashes only for its outs and
    the paths inside them (`r1router.lineage.out_tags`), never for a directory above.
    """
    return next((name for name, stage in stages.items() if any(inside(path, out) for out in stage.outs)), None)
