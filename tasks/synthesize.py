"""Task: synthesise teacher trajectories over the train split (resumable chunk by chunk)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from prefect import task
from prefect.tasks import exponential_backoff

from r1router.benchmarks.schema import Question
from r1router.hashing import file_sha256
from r1router.kb.service import open_retrievers
from r1router.router.loop import RouterLoop, loop_config
from r1router.router.trajectory import Trajectory
from r1router.training.synthesis import select_questions, synthesize
from r1router.training.teachers import load_teacher_policy, make_teacher, teacher_config
from tasks.caching import CACHE_POLICY


@task(name="synthesize", cache_policy=CACHE_POLICY, persist_result=True, timeout_seconds=24 * 3600)
def synthesize_task(
    world_dir: str,
    kb_dir: str,
    kbs: list[str],
    split: str,
    benchmarks: list[str] | None,
    max_questions: int | None,
    teacher: dict,
    loop: dict,
    chunk_size: int,
    out: str,
    cache_dir: str,
    device: str,
    precision: str,
    data: str,
    code: str,
    retrieval_service: str | None = None,
) -> dict:
    """`data` (questions, images, KBs, teacher model) and `code` key the cache and the chunk fingerprint.

    With `retrieval_service` (a running `r1router kb serve` on these very KBs) the teacher searches
    through it instead of loading every index and encoder itself.
    """
    config = teacher_config({"device": device, "precision": precision, **teacher})
    questions = select_questions(Path(world_dir), split, benchmarks, max_questions)

    @cache
    def teacher_loop() -> RouterLoop:  # loaded on the first chunk that needs it: a full resume loads nothing
        retrievers = open_retrievers(Path(kb_dir), kbs, device, retrieval_service)
        return make_teacher(
            config, load_teacher_policy(config), retrievers.search, loop_config(loop, "synthesize.loop")
        )

    def run(chunk: list[Question], image_root: Path | None) -> list[Trajectory]:
        return teacher_loop().run(chunk, image_root)

    settings = {"teacher": config.fingerprint(), "loop": loop, "kbs": kbs, "data": data, "code": code}
    stats = synthesize(questions, run, Path(out), Path(cache_dir), settings, chunk_size, Path(world_dir) / "images")
    return {**stats, "sha256": file_sha256(out)}


def run_synthesis(out: Path, remote: bool, retries: int, **kwargs) -> dict:
    """The cached task, re-run when `out` is gone or is not the file the cached run wrote.

    A remote teacher (an endpoint) gets task retries with exponential backoff
    on top of the client's own per-request retries: a retry resumes from the
    last finished chunk, so an outage of the server costs at most one chunk.
    """
    options = {"retries": retries, "retry_delay_seconds": exponential_backoff(backoff_factor=30)} if remote else {}

    def call(refresh: bool) -> dict:
        return synthesize_task.with_options(refresh_cache=refresh, **options)(out=str(out), **kwargs)

    stats = call(refresh=not out.is_file())
    if not out.is_file() or file_sha256(out) != stats["sha256"]:
        stats = call(refresh=True)
    return stats
