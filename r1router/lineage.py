"""What a stage read and wrote, in DVC's own hashes, as MLflow tags.

A stage run is tagged with `dvc.dep.<path>` for every dep and, when it
succeeds, `dvc.out.<path>` for every out: the md5 DVC records in dvc.lock
(`<md5>.dir` for a directory), computed by DVC's own code on the stage
objects DVC loads from dvc.yaml (`r1router.dvcfile.dvc_stages`, so `${profile}`
and every other interpolation resolve exactly as in `dvc repro`). A dep's tag is the hash of its *current*
content, which is what DVC hashes just before running the command and then
writes into dvc.lock: while a stage runs, dvc.lock still holds the hashes of
the previous run, stale for exactly the deps that made it run again (those
are listed in `dvc.deps_changed`). DVC's state database remembers hashes by
inode and mtime, so files DVC just hashed are not read again.

A downstream stage may depend on a path *inside* an out (`models/policy`
inside `models`); the producing run also tags `dvc.out.<that path>`, so that
`r1router lineage` can match `dvc.dep.P == dvc.out.P` by equality.

What a stage reads and writes is not decided here: the stages, and which of
their deps are paths, come from `r1router.dvcfile`, the one reader of
dvc.yaml; this module only hashes them and reads dvc.lock.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from r1router.dvcfile import DVC_FILE, dvc_stages, inside, path_deps, stage_named
from r1router.errors import DataError

LOCK_FILE = "dvc.lock"
DEP_PREFIX = "dvc.dep."
OUT_PREFIX = "dvc.out."
MISSING = "missing"
_TAG_UNSAFE = re.compile(r"[^/\w.\- :]")


def tag_key(prefix: str, path: str) -> str:
    """MLflow tag key for a dep/out path (characters MLflow refuses become `_`, the same on both sides)."""
    return prefix + _TAG_UNSAFE.sub("_", path)


def _current_hash(entry: Any) -> str:
    """The md5 DVC would record for this dep/out now (legacy `md5-dos2unix` entries move to md5 as DVC does)."""
    if not entry.exists:
        return MISSING
    entry.update_legacy_hash_name()
    return str(entry.get_hash().value)


def lock_entry(stage: str, root: str | Path = ".") -> dict[str, Any] | None:
    """The stage's entry in dvc.lock, or None when dvc.lock does not hold it (yet)."""
    path = Path(root) / LOCK_FILE
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return (data.get("stages") or {}).get(stage)


def lock_md5(root: str | Path = ".") -> str:
    """md5 of dvc.lock's bytes: one fingerprint of the whole pipeline state, or 'absent'."""
    path = Path(root) / LOCK_FILE
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else "absent"


def dep_tags(stage: str, root: str | Path = ".") -> dict[str, str]:
    """Tags for a stage run as it starts: the hash of every dep, and how this run relates to dvc.lock."""
    with dvc_stages(root) as stages:
        dvc_stage = stage_named(stages, stage, root)
        tags = {
            "dvc.stage": stage,
            "dvc.lock_present": str(lock_entry(stage, root) is not None).lower(),
            # DVC sets DVC_STAGE (and DVC_ROOT) for every stage command it runs (dvc/stage/run.py).
            "dvc.repro": str(os.environ.get("DVC_STAGE") == dvc_stage.addressing).lower(),
        }
        changed = []
        for dep in path_deps(dvc_stage):
            recorded = dep.hash_info.value if dep.hash_info else None
            current = _current_hash(dep)
            tags[tag_key(DEP_PREFIX, dep.def_path)] = current
            if recorded != current:
                changed.append(dep.def_path)
        tags["dvc.deps_changed"] = ",".join(changed)
    return tags


def out_tags(stage: str, root: str | Path = ".") -> dict[str, str]:
    """Tags for a stage run that succeeded: the hash of each out, and of each path inside it that another
    stage depends on. An out the stage did not write is an error, as it is for DVC."""
    with dvc_stages(root) as stages:
        outs = stage_named(stages, stage, root).outs
        tags: dict[str, str] = {}
        for out in outs:
            value = _current_hash(out)
            if value == MISSING:
                raise DataError(out.fs_path, f"stage '{stage}' finished without writing this out ({DVC_FILE})")
            tags[tag_key(OUT_PREFIX, out.def_path)] = value
        for other in stages.values():
            for dep in path_deps(other) if other.name != stage else []:
                key = tag_key(OUT_PREFIX, dep.def_path)
                if key not in tags and any(inside(dep.fs_path, out.fs_path) for out in outs):
                    tags[key] = _current_hash(dep)
    return tags
