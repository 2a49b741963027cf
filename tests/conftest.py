"""Fixtures every test package shares: the demo policy and text encoder, and the paper's released step rows."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from r1router.benchmarks import default_release_dir
from r1router.config import stage_params
from r1router.models.pull import pull_model

REPO = Path(__file__).resolve().parents[1]
RELEASED_SAMPLE = "stepgrpo_trajectories_sample.jsonl"


def demo_model(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model the demo profile names: the pipeline's copy when `dvc repro` has run, else pulled (CI's fresh clone)."""
    pipeline_copy = REPO / "models" / name
    if (pipeline_copy / "config.json").is_file():
        return pipeline_copy
    spec = stage_params("models", REPO / "params.yaml")["specs"][name]
    models_dir = tmp_path_factory.mktemp("models")
    pull_model(name, spec, models_dir)
    return models_dir / name


@pytest.fixture(scope="session")
def smollm_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct, the demo policy."""
    return demo_model("policy", tmp_path_factory)


@pytest.fixture(scope="session")
def text_encoder_dir(tmp_path_factory) -> Path:
    """all-MiniLM-L6-v2, the demo text KB's encoder."""
    return demo_model("text_encoder", tmp_path_factory)


@pytest.fixture
def embed_all():
    """`r1router.kb.embed.embedded` run to its end: (shards, stats) with the cache's lock released."""
    from r1router.kb.embed import embedded

    def run(*args, **kwargs):
        with embedded(*args, **kwargs) as result:
            return result

    return run


def require_release(path: Path, what: str) -> None:
    """Skip a test whose released data is missing on a developer's machine; fail it in CI (`CI=true`).

    CI always has `../shared`: there a missing release is a broken setup, and
    skipping would let the tests that read it pass unseen.
    """
    if path.exists():
        return
    message = f"{what} not found at {path} (set R1ROUTER_RELEASE_DIR)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}; CI must have it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def release_dir() -> Path:
    """The paper's released data in `../shared` (override with R1ROUTER_RELEASE_DIR)."""
    directory = default_release_dir()
    require_release(directory, "the paper's released data")
    return directory


@pytest.fixture(scope="session")
def released_sample(release_dir: Path) -> Path:
    """The released Step-GRPO trajectory sample."""
    path = release_dir / RELEASED_SAMPLE
    require_release(path, "released step data")
    return path


@pytest.fixture(scope="session")
def trajectories(released_sample: Path) -> list[dict]:
    """The released sample's records as parsed JSON."""
    return [json.loads(line) for line in released_sample.read_text(encoding="utf-8").splitlines() if line.strip()]


# The tiny Qwen2.5-VL: Qwen's special tokens, and Qwen2-VL's chat template reduced to text and image parts.
TINY_VL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
TINY_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_VL_PIXELS = {"min_pixels": 28 * 28 * 4, "max_pixels": 28 * 28 * 64}  # 4 to 64 image tokens per image


@pytest.fixture(scope="session")
def tiny_vl_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised Qwen2.5-VL with its processor, built offline in about a second.

    Its outputs are noise; it is for the plumbing of the vision-language path
    (the policy backend, training on rows with images). The tokenizer is a
    byte-level BPE with Qwen's special tokens, trained on a few words.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=TINY_VL_SPECIAL, initial_alphabet=alphabet)
    bpe.train_from_iterator(["According to the related information searched, the answer"] * 20, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in TINY_VL_SPECIAL}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 4096,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 1, 1]},
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    directory = tmp_path_factory.mktemp("tiny-qwen2.5-vl")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        Qwen2_5_VLForConditionalGeneration(config).save_pretrained(directory)
    Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**TINY_VL_PIXELS),
        video_processor=Qwen2VLVideoProcessor(**TINY_VL_PIXELS),
        tokenizer=tokenizer,
        chat_template=TINY_VL_CHAT_TEMPLATE,
    ).save_pretrained(directory)
    return directory


# A loopback HTTP server for corpus sources (refresh tests, the paper-format pipeline test).


@dataclass
class Served:
    body: bytes
    etag: bool = True  # send an ETag (else Last-Modified + Content-Length)
    modified: float = 1_700_000_000.0
    fail_get: bool = False  # answer GET with 500 (HEAD still works)
    truncate: bool = False  # promise the full Content-Length, send half, close


@dataclass
class CorpusServer:
    """Files served from memory; `requests` counts (method, path)."""

    url: str
    files: dict[str, Served] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)

    def put(self, path: str, body: bytes, **options) -> str:
        """Serve `body` at `path` (options: see `Served`); return its URL."""
        self.files[path] = Served(body, **options)
        return self.url + path


def _handler(server: CorpusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _headers(self, served: Served) -> None:
            self.send_header("Content-Length", str(len(served.body)))
            if served.etag:
                self.send_header("ETag", '"' + hashlib.sha256(served.body).hexdigest()[:16] + '"')
            else:
                self.send_header("Last-Modified", formatdate(served.modified, usegmt=True))

        def _serve(self, with_body: bool) -> None:
            server.requests[(self.command, self.path)] += 1
            served = server.files.get(self.path)
            if served is None or (with_body and served.fail_get):
                self.send_error(404 if served is None else 500)
                return
            self.send_response(200)
            self._headers(served)
            self.end_headers()
            if with_body:
                self.wfile.write(served.body[: len(served.body) // 2] if served.truncate else served.body)
                if served.truncate:
                    self.close_connection = True

        def do_HEAD(self) -> None:
            self._serve(with_body=False)

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def corpus_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
    server = CorpusServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    httpd.shutdown()
    httpd.server_close()
