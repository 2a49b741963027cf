"""`r1router`: one verb per pipeline stage, usable without Prefect or DVC."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from r1router.cli_corpus import AddressOption, EngineOption, WorkersOption, corpus_app, engine_from_options
from r1router.cli_pipeline import register as register_pipeline_commands
from r1router.cli_schedule import schedule_app
from r1router.errors import ConfigError, R1RouterError

if TYPE_CHECKING:  # the CLI imports its heavy modules inside the commands that use them
    from r1router.kb.index import IndexConfig

app = typer.Typer(
    help="R1-Router: step-wise retrieval-augmented reasoning across knowledge bases.", no_args_is_help=True
)
world_app = typer.Typer(help="The offline demo world.", no_args_is_help=True)
models_app = typer.Typer(help="Models named by the active profile.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge bases: build, search.", no_args_is_help=True)
steps_app = typer.Typer(help="Step rows: the training data of SFT and Step-GRPO.", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(models_app, name="models")
app.add_typer(corpus_app, name="corpus")
app.add_typer(kb_app, name="kb")
app.add_typer(steps_app, name="steps")
app.add_typer(schedule_app, name="schedule")
register_pipeline_commands(app)

ParamsOption = Annotated[Path | None, typer.Option("--params", help="params.yaml to read (default: ./params.yaml)")]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    if not verbose:  # faiss logs each CPU-variant library it tries and fails to load: noise on every command
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)


@world_app.command("build")
def world_build(
    seed: Annotated[int, typer.Option(help="random seed; same seed → byte-identical files")] = 13,
    size: Annotated[str, typer.Option(help="tiny | small | medium")] = "small",
    out: Annotated[Path, typer.Option(help="output directory")] = Path("data/world"),
) -> None:
    """Generate the fictional world: KBs, query images and six benchmarks with gold plans."""
    from r1router.io import atomic_dir
    from r1router.world.build import build_world

    with atomic_dir(out) as tmp:
        counts = build_world(tmp, seed=seed, size=size)
    typer.echo(json.dumps(counts, indent=2))


@models_app.command("pull")
def models_pull(
    params: ParamsOption = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="pull only these model names")] = None,
) -> None:
    """Download (and convert once) every model the active profile names into models/."""
    from r1router.config import stage_params
    from r1router.models.pull import pull_models

    cfg = stage_params("models", params)
    specs = {name: spec for name, spec in cfg["specs"].items() if not only or name in only}
    manifests = pull_models(specs, Path(cfg["models_dir"]))
    typer.echo(json.dumps(manifests, indent=2))


def _encoder_option(value: str) -> dict[str, Any]:
    """`--encoder`: a local model directory, or a spec as params.yaml writes one (a YAML mapping)."""
    import yaml

    if not value.lstrip().startswith("{"):
        return {"path": value}
    try:
        spec = yaml.safe_load(value)
    except yaml.YAMLError as error:
        raise typer.BadParameter(f"not a YAML mapping: {error}", param_hint="--encoder") from None
    if not isinstance(spec, dict):
        raise typer.BadParameter("expected a mapping such as '{hub: BAAI/bge-m3}'", param_hint="--encoder")
    return spec


def _index_option(value: str) -> IndexConfig:
    """`--index`: an index type, or a mapping of `IndexConfig` fields."""
    import yaml

    from r1router.kb.index import IndexConfig

    try:
        fields = yaml.safe_load(value) if value.lstrip().startswith("{") else {"type": value}
        return IndexConfig(**fields)
    except (yaml.YAMLError, TypeError) as error:
        raise typer.BadParameter(
            f"expected flat, sharded, hnsw, ivf, ivfpq or a mapping of index settings ({error})", param_hint="--index"
        ) from None


def _kb_profile(kind: str, params: Path | None) -> dict[str, Any]:
    """The active profile's `kb` section, its own kinds registered; a clear error where there is no params.yaml."""
    from r1router.config import params_path, stage_params
    from r1router.kb.kinds import register_profile_kinds

    if params is None and not params_path().is_file():
        raise ConfigError(f"no {params_path()} here to take the '{kind}' KB's encoder from: name it with --encoder")
    cfg = stage_params("kb", params)
    register_profile_kinds(params)
    return cfg


@kb_app.command("build")
def kb_build(
    kind: Annotated[str, typer.Option(help="text | table | image, or a kind of the profile's `kinds`")],
    input: Annotated[Path, typer.Option("--input", help="KB records: .jsonl, .parquet or a corpus directory")],
    out: Annotated[
        Path | None,
        typer.Option(help="KB directory: new, empty, or a KB to replace with --force (default: <kb out_dir>/<kind>)"),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="a local model directory, or a spec such as '{hub: BAAI/bge-m3}' or "
            "'{family: image, name: ViT-B-32, pretrained: openai}'; with it no params.yaml is read "
            "(default: the profile's)"
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            help="flat | sharded | hnsw | ivf | ivfpq, or e.g. '{type: sharded, index_shard_rows: 1000000}' "
            "(default: the profile's)"
        ),
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda[:N] (default: the profile's)")] = None,
    shard_dir: Annotated[
        Path | None, typer.Option(help="embedding cache, for resuming and rebuilding (default: OUT.shards)")
    ] = None,
    max_passage_words: Annotated[
        int | None,
        typer.Option(min=1, help="refuse a longer passage, by file and line (default: the profile's, else 4096)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace the KB already in --out")] = False,
    engine: EngineOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = 2,
    params: ParamsOption = None,
) -> None:
    """Validate, embed and index your own KB.

    With --encoder and --out everything comes from the command line and no
    params.yaml is read, so it runs from any folder; otherwise the active
    profile's settings for --kind fill in what is not given. --out must be new,
    empty, or (with --force) a KB; nothing else in it is ever replaced.
    """
    from contextlib import nullcontext

    from r1router.config import params_path
    from r1router.kb.build import DEFAULT_MAX_PASSAGE_WORDS, build_kb
    from r1router.kb.index import IndexConfig
    from r1router.locking import pipeline_lock

    cfg = _kb_profile(kind, params) if params is not None or encoder is None else None
    settings = (cfg or {}).get(kind) or {}
    if encoder is None and "encoder" not in settings:
        raise ConfigError(f"the profile has no '{kind}' KB settings; name an --encoder")
    if out is None:
        if cfg is None:
            raise ConfigError("--out: where to write the KB (with --encoder no params.yaml is read to default it)")
        out = Path(cfg["out_dir"]) / kind
    resolved = out.resolve()
    cache = shard_dir or resolved.parent / f"{resolved.name}.shards"  # beside the KB: a user's build is self-contained
    # A build into the pipeline's KB directory holds the pipeline's lock, as a stage would.
    in_pipeline = cfg is not None and resolved.is_relative_to(Path(cfg["out_dir"]).resolve())
    with pipeline_lock(params_path(params).resolve().parent) if in_pipeline else nullcontext():
        manifest, stats = build_kb(
            kind,
            input,
            out,
            _encoder_option(encoder) if encoder is not None else settings["encoder"],
            _index_option(index) if index is not None else IndexConfig(**settings.get("index", {})),
            shard_dir=cache,
            device=device or (cfg["device"] if cfg else "auto"),
            shard_size=cfg["shard_size"] if cfg else 2048,
            batch_size=cfg["batch_size"] if cfg else 64,
            replace=force,
            max_passage_words=max_passage_words or (cfg or {}).get("max_passage_words", DEFAULT_MAX_PASSAGE_WORDS),
            engine=engine_from_options(engine, address, workers),
        )
    typer.echo(json.dumps({"out": str(out), "shard_dir": str(cache), **manifest, "stats": stats}, indent=2))


@kb_app.command("search")
def kb_search(
    kb: Annotated[str, typer.Option(help="a built KB directory, or a KB name under --kb-root (text | table | image)")],
    query: Annotated[str, typer.Option(help="query text")],
    k: Annotated[int, typer.Option("-k", min=1, help="hits to return")] = 5,
    image: Annotated[Path | None, typer.Option(help="query image (image KB)")] = None,
    kb_root: Annotated[Path, typer.Option(help="directory of built KBs")] = Path("data/kb"),
    verify: Annotated[
        bool, typer.Option("--verify", help="check the sha256 of the KB's files even when they are large")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print hits as JSON")] = False,
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml whose profile's own kinds to register")
    ] = None,
) -> None:
    """Search one built KB; its manifest names everything else, so it runs from any folder."""
    import os

    from r1router.config import params_path
    from r1router.kb.kinds import KINDS, register_profile_kinds
    from r1router.kb.retriever import KnowledgeBase, read_manifest

    if image is not None and not image.is_file():
        raise typer.BadParameter(f"image not found: {image}", param_hint="--image")
    kb_dir = Path(kb) if os.sep in kb or Path(kb).is_dir() else kb_root / kb
    if params is not None or (read_manifest(kb_dir)["kind"] not in KINDS and params_path().is_file()):
        register_profile_kinds(params)  # a KB of the profile's own kind
    hits = KnowledgeBase(kb_dir, verify=True if verify else None).search([query], [image] if image else None, k=k)[0]
    if as_json:
        typer.echo(json.dumps([hit.to_dict() for hit in hits], indent=2, ensure_ascii=False))
        return
    for rank, hit in enumerate(hits, start=1):
        snippet = hit.text.replace("\n", " ")
        typer.echo(f"{rank}. [{hit.id}] {hit.score:.3f}  {snippet[:160]}")


@kb_app.command("serve")
def kb_serve(
    kb_root: Annotated[Path, typer.Option(help="directory of built KBs")] = Path("data/kb"),
    kbs: Annotated[str, typer.Option(help="comma-separated KBs to load")] = "text,table,image",
    host: Annotated[
        str, typer.Option(help="address to bind; the service has no authentication, keep it on loopback")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8600,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    params: Annotated[
        Path | None, typer.Option("--params", help="params.yaml whose profile's own kinds to register")
    ] = None,
) -> None:
    """Load the KBs once and serve batched search over HTTP (GET /health, POST /search).

    Point evaluation, synthesis or `ask` at it with `retrieval_service: http://HOST:PORT` in the
    profile's router section, instead of each loading every index and encoder.
    """
    import uvicorn

    from r1router.config import params_path
    from r1router.kb.kinds import register_profile_kinds
    from r1router.kb.retriever import Retrievers
    from r1router.kb.service import create_app

    names = [name.strip() for name in kbs.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter("name at least one KB", param_hint="--kbs")
    if missing := [name for name in names if not (kb_root / name / "manifest.json").is_file()]:
        raise typer.BadParameter(
            f"no built KB {kb_root / missing[0]} (build it with `r1router kb build`)", param_hint="--kbs"
        )
    if params is not None or params_path().is_file():
        register_profile_kinds(params)
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"warning: serving on {host}: anyone who reaches it can search these KBs", err=True)
    retrievers = Retrievers(kb_root, names, device=device)
    uvicorn.run(create_app(retrievers), host=host, port=port, log_level="info")


@app.command("score")
def score(
    file: Annotated[Path, typer.Argument(help="predictions JSONL in the paper's released result format")],
    dataset: Annotated[
        str, typer.Option(help="openwikitqa, 2wikimultihopqa, tabfact, infoseek, dyn_vqa, webqa, demo_*")
    ],
) -> None:
    """Score a predictions file with the paper's F1-Recall; the last line is `F1-Recall: NN.NN`."""
    from r1router.evaluation.score_file import format_score, score_file

    typer.echo(format_score(score_file(file, dataset)))


@steps_app.command("convert")
def steps_convert(
    released: Annotated[Path, typer.Option(help="the paper's released Step-GRPO file ({images, steps} per line)")],
    out: Annotated[Path, typer.Option(help="step rows JSONL to write (one row per step)")],
) -> None:
    """Validate the paper's released trajectories and write them as step rows, ready for SFT or Step-GRPO."""
    from collections import Counter

    from r1router.training.steps import read_released_trajectories, write_step_rows

    trajectories = read_released_trajectories(released)
    rows = [row for trajectory in trajectories for row in trajectory]
    write_step_rows(out, rows)
    counts = Counter(row.step_type for row in rows)
    summary = f"{counts['ret']} ret, {counts['ans']} ans"
    typer.echo(f"{len(rows)} step rows ({summary}) from {len(trajectories)} trajectories → {out}")


def default_router(params: Path | None) -> str:
    """The router `ask` uses unless told: Step-GRPO's, else SFT's, when trained here; else the base policy."""
    from r1router.config import pipeline_paths
    from r1router.training.common import TRAIN_MARKER

    paths = pipeline_paths(params)
    for router in (paths["grpo_router"], paths["sft_router"]):
        if (Path(router) / TRAIN_MARKER).is_file():
            return router
    return str(Path(paths["models"]) / "policy")


def check_chat_template(model_dir: Path) -> None:
    """Refuse a local model without a chat template before loading it: every router prompt is a chat."""
    if not (model_dir / "config.json").is_file():
        return  # not a model directory at all: the factory says so, naming it
    if any((model_dir / name).is_file() for name in ("chat_template.jinja", "chat_template.json")):
        return
    config = model_dir / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("chat_template"):
        return
    raise typer.BadParameter(f"{model_dir}: the model has no chat template (an instruct/chat model is needed)")


def check_question_length(question: str, model_dir: str | None, limit: int) -> None:
    """Refuse a question over `limit` tokens before the model loads: past the context it only warns and
    crawls (a 14k-token question took 5.5 min per generation). Tokens are the local model's own; behind an
    endpoint (or for a directory without a tokenizer, which the factory refuses later), about four
    characters make a token."""
    if model_dir is None or not (Path(model_dir) / "tokenizer_config.json").is_file():
        tokens, how = -(-len(question) // 4), "estimated at 4 characters per token"
    else:
        from transformers import AutoTokenizer

        tokens, how = len(AutoTokenizer.from_pretrained(model_dir)(question)["input_ids"]), "by the model's tokenizer"
    if tokens > limit:
        raise typer.BadParameter(
            f"the question is {tokens} tokens ({how}), over --max-question-tokens {limit}", param_hint="QUESTION"
        )


def check_image(path: Path) -> None:
    """Refuse a question image that is missing, of a kind the loop cannot find, shadowed by a sibling the loop
    would take instead, or that does not decode: before any model loads (minutes, not seconds)."""
    from PIL import Image, UnidentifiedImageError

    from r1router.benchmarks.loaders import IMAGE_SUFFIXES, resolve_image

    if not path.is_file():
        raise typer.BadParameter(f"image not found: {path}", param_hint="--image")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise typer.BadParameter(f"{path}: use a {', '.join(IMAGE_SUFFIXES)} image", param_hint="--image")
    found = resolve_image(path.parent, path.stem)  # what the loop will open for this question
    if found.resolve() != path.resolve():
        raise typer.BadParameter(
            f"{path}: the loop finds images by name and would open {found} instead; rename one of them",
            param_hint="--image",
        )
    try:
        with Image.open(path) as opened:
            opened.load()  # decodes the pixels: a truncated or corrupt file fails here
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise typer.BadParameter(f"{path}: not a readable image ({error})", param_hint="--image") from None


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    image: Annotated[Path | None, typer.Option(help="the question's image")] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="the policy: a model directory, or a backend spec as in params.yaml evaluate.methods, e.g. "
            "'{backend: openai, endpoint: {base_url: \"http://127.0.0.1:8000/v1\", model: NAME}}' "
            "(default: the best trained router there is: step-grpo, else sft, else the base policy)"
        ),
    ] = None,
    kb_root: Annotated[Path, typer.Option(help="directory of built KBs")] = Path("data/kb"),
    kbs: Annotated[str, typer.Option(help="comma-separated KBs to load")] = "text,table,image",
    few_shot: Annotated[
        bool | None,
        typer.Option("--few-shot/--zero-shot", help="default: zero-shot for a trained router, few-shot otherwise"),
    ] = None,
    family: Annotated[
        str | None,
        typer.Option(help="few-shot examples: text | table | visual (default: visual with --image, else text)"),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="routing steps before the final answer (default: profile's)")
    ] = None,
    k: Annotated[int | None, typer.Option("-k", help="passages per retrieval (default: the profile's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the trajectory as JSON")] = False,
    max_question_tokens: Annotated[
        int,
        typer.Option(
            min=1, help="refuse a longer question: the prompt, passages and every step share the model's context"
        ),
    ] = 512,
    params: ParamsOption = None,
) -> None:
    """Answer a question with the step-wise router, printing each step as it completes.

    The loop, device and precision are the active profile's `router` section,
    the ones the evaluation runs with; `--max-steps` and `-k` override the loop's.
    """
    from dataclasses import replace

    import yaml

    from r1router.benchmarks.schema import Question
    from r1router.kb.kinds import register_profile_kinds
    from r1router.kb.service import open_retrievers
    from r1router.router.backends import load_policy
    from r1router.router.loop import RouterLoop
    from r1router.router.profile import router_config
    from r1router.router.trajectory import Step, Trajectory
    from r1router.training.common import TRAIN_MARKER  # a trained router gets the zero-shot prompt

    if not question.strip():
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    if image is not None:
        check_image(image)
    if model is None:
        model = default_router(params)
        typer.echo(f"model: {model}", err=True)
    try:  # a spec is a YAML mapping; anything else is a directory, whatever YAML would make of its name
        value = yaml.safe_load(model) if model.lstrip().startswith("{") else model
    except yaml.YAMLError as error:
        raise typer.BadParameter(f"not a YAML mapping: {error}", param_hint="--model") from None
    router = router_config(params)
    register_profile_kinds(params)
    spec = router.policy_spec(value, "--model")
    if spec.local_model is not None:
        check_chat_template(Path(spec.local_model))
    check_question_length(question, spec.local_model, max_question_tokens)
    trained = spec.local_model is not None and (Path(spec.local_model) / TRAIN_MARKER).is_file()
    use_few_shot = few_shot if few_shot is not None else not trained

    def show(_: Trajectory, step: Step) -> None:
        if as_json:
            return
        if step.kb is None:
            typer.echo("→ stop: enough information to answer")
            return
        typer.echo(f"→ [{step.kb}] {step.sub_question}")
        for hit in step.hits[:3]:
            typer.echo(f"    {hit.id} ({hit.score:.3f}) {hit.text.replace(chr(10), ' ')[:100]}")
        typer.echo(f"  answer: {step.sub_answer}")

    overrides = {name: value for name, value in {"max_steps": max_steps, "k": k}.items() if value is not None}
    family = family or ("visual" if image is not None else "text")
    config = replace(router.loop, few_shot=use_few_shot, few_shot_family=family, **overrides)
    names = [name.strip() for name in kbs.split(",") if name.strip()]
    retrievers = open_retrievers(kb_root, names, router.device, router.retrieval_service)
    policy = load_policy(spec)
    if image is not None and not policy.multimodal:
        typer.echo(f"note: {spec.describe()} is a text-only policy: it reads the question, not the image", err=True)
    loop = RouterLoop(policy, retrievers.search, config, method="ask", on_step=show)
    image_id = image.stem if image is not None else None
    asked = Question("ask", question, [], "ask", image_id=image_id)
    [trajectory] = loop.run([asked], image.parent if image is not None else None)
    if as_json:
        typer.echo(json.dumps(trajectory.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(f"final answer: {trajectory.final_answer}")


def main() -> None:
    """Entry point that turns our errors into one clear line and exit code 2."""
    try:
        app()
    except R1RouterError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
