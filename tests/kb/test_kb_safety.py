"""`kb build` / `kb search` are safe with a user's files: the output directory, the shard cache, a damaged KB,
image paths from a KB file, and a KB used outside the repository.

Most tests inject the hashing encoder (`conftest.py`) and name the `encoder_dir`
stand-in in the spec; the CLI test that builds and searches from a folder of
its own runs the real MiniLM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from r1router.corpus.mbeir import build_mbeir_corpus
from r1router.corpus.shards import ShardWriter
from r1router.errors import ConfigError, DataError
from r1router.hashing import tree_sha256
from r1router.kb import build as build_module
from r1router.kb.build import build_kb
from r1router.kb.encoders import load_encoder, manifest_spec
from r1router.kb.index import IndexConfig
from r1router.kb.kinds import get_kind
from r1router.kb.records import load_records
from r1router.kb.retriever import KnowledgeBase


def build(input_path: Path, out: Path, encoder, encoder_dir: Path, kind: str = "text", **options):
    """Build with `encoder` injected; the shard cache is the test's own."""
    spec = {"family": "text" if kind == "text" else "image", "path": str(encoder_dir)}
    shard_dir = options.pop("shard_dir", out.parent / "cache")
    return build_kb(kind, input_path, out, spec, IndexConfig(), shard_dir=shard_dir, encoder=encoder, **options)


def write_passages(path: Path, topics: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": f"{path.stem}-{i}", "text": f"A passage about the {topic}."} for i, topic in enumerate(topics)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def png(path: Path, size: tuple[int, int] = (4, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (30, 120, 200)).save(path, "PNG")
    return path


def r1router(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1router.cli", *args], capture_output=True, text=True, cwd=cwd)


def kb_build_text(input_path: Path | str, encoder: Path | str, out: str, *options: str, cwd: Path):
    """`r1router kb build --kind text` with its input, encoder and --out, plus `options`, run in `cwd`."""
    args = ["--input", str(input_path), "--encoder", str(encoder), "--out", out, *options]
    return r1router("kb", "build", "--kind", "text", *args, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    for fragment in fragments:
        assert fragment in line, line


# --- 1. the output directory is the user's ------------------------------------------------------------------------


def test_a_non_empty_directory_that_is_not_a_kb_is_refused_and_left_alone(
    tmp_path, text_kb_file, hashing_encoder, encoder_dir
):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(DataError, match=r"mine: is not empty and not a KB \(holds notes\.txt\)"):
        build(text_kb_file, out, hashing_encoder, encoder_dir)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "my notes"
    assert hashing_encoder.calls == 0


def test_a_directory_of_kbs_is_not_a_kb(tmp_path, hashing_encoder, encoder_dir):
    """`--out data/kb` used to replace every KB under it."""
    kbs = tmp_path / "kb"
    for name, topics in {"text": ["volcano", "river"], "mine": ["castle", "harbour"]}.items():
        build(write_passages(tmp_path / f"{name}.jsonl", topics), kbs / name, hashing_encoder, encoder_dir)
    before = {p: p.read_bytes() for p in kbs.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match="is not empty and not a KB"):
        build(tmp_path / "text.jsonl", kbs, hashing_encoder, encoder_dir, replace=True)
    assert {p: p.read_bytes() for p in kbs.rglob("*") if p.is_file()} == before


def test_an_existing_kb_is_replaced_only_when_asked(tmp_path, hashing_encoder, encoder_dir):
    out = tmp_path / "kb"
    build(write_passages(tmp_path / "a.jsonl", ["volcano", "river"]), out, hashing_encoder, encoder_dir)
    first = (out / "manifest.json").read_bytes()
    newer = write_passages(tmp_path / "b.jsonl", ["castle", "harbour", "glacier"])
    with pytest.raises(DataError, match="already holds a KB; replace it with --force"):
        build(newer, out, hashing_encoder, encoder_dir)
    assert (out / "manifest.json").read_bytes() == first
    (out / ".r1router-stamp").write_text("the pipeline's stamp\n")  # a pipeline output's: part of its KB directory
    manifest, _ = build(newer, out, hashing_encoder, encoder_dir, replace=True)
    assert manifest["count"] == 3 and sorted(p.name for p in out.iterdir()) == [
        "index.faiss",
        "manifest.json",
        "records.parquet",
    ]


def test_a_kb_holding_other_files_is_not_replaced_even_when_asked(tmp_path, text_kb_file, hashing_encoder, encoder_dir):
    out = tmp_path / "kb"
    build(text_kb_file, out, hashing_encoder, encoder_dir)
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(DataError, match=r"holds files that are not part of a KB \(notes\.txt\)"):
        build(text_kb_file, out, hashing_encoder, encoder_dir, replace=True)
    assert (out / "notes.txt").read_text() == "my notes"


def test_the_input_is_never_overwritten(tmp_path, hashing_encoder, encoder_dir):
    inside = write_passages(tmp_path / "kb" / "passages.jsonl", ["volcano"])
    with pytest.raises(DataError, match="holds the KB's input"):
        build(inside, tmp_path / "kb", hashing_encoder, encoder_dir, replace=True)
    assert inside.is_file()
    writer = ShardWriter(tmp_path / "corpus", {"format": "test"}, shard_size=10)
    writer.add_unit(0, [{"id": "a", "text": "alpha"}])
    writer.finish()
    corpus = sorted(p.name for p in (tmp_path / "corpus").iterdir())
    with pytest.raises(DataError, match="holds the KB's input"):
        build(tmp_path / "corpus", tmp_path / "corpus", hashing_encoder, encoder_dir, replace=True)
    with pytest.raises(DataError, match="is inside the input directory"):
        build(tmp_path / "corpus", tmp_path / "corpus" / "kb", hashing_encoder, encoder_dir)
    assert sorted(p.name for p in (tmp_path / "corpus").iterdir()) == corpus
    assert hashing_encoder.calls == 0


def test_the_cli_refuses_in_one_line_before_any_model_loads(tmp_path, text_kb_file, hashing_encoder, encoder_dir):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    common = ["kb", "build", "--kind", "text", "--input", str(text_kb_file), "--encoder", str(encoder_dir)]
    assert_one_line_error(r1router(*common, "--out", str(mine), cwd=tmp_path), f"{mine}: is not empty and not a KB")
    build(text_kb_file, tmp_path / "kb", hashing_encoder, encoder_dir)
    proc = r1router(*common, "--out", str(tmp_path / "kb"), cwd=tmp_path)
    assert_one_line_error(proc, "already holds a KB; replace it with --force")
    assert (mine / "notes.txt").read_text() == "my notes"


def test_out_dot_is_refused_and_a_bad_record_is_reported_before_the_encoder_is_looked_at(tmp_path, text_kb_file):
    """`--out .` used to end in a traceback; a bad record was hidden behind a missing encoder's error (CI)."""
    here = tmp_path / "here"
    here.mkdir()
    proc = kb_build_text(text_kb_file, "no-such-dir", ".", cwd=here)
    assert_one_line_error(proc, ".: is the current directory (or holds it)")
    assert list(here.iterdir()) == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": "b"}\n')
    proc = kb_build_text(bad, "no-such-dir", "kb", cwd=here)
    assert_one_line_error(proc, f"{bad}, line 2, field 'text': missing required field")


# --- 2. the shard cache is keyed by content -----------------------------------------------------------------------

A_RECORDS = [{"id": f"a{i}", "text": f"alpha record {i}"} for i in range(23)]
B_RECORDS = [{"id": f"b{i}", "text": f"beta entry {i} of another KB"} for i in range(23)]


def test_two_builds_into_one_cache_at_once_never_mix_their_shards(tmp_path, hashing_encoder, embed_all):
    """Build A is paused after its first shard while build B of other content runs on the same cache."""
    cache = tmp_path / "cache"

    def encode(batch):
        return hashing_encoder.encode([r["text"] for r in batch])

    reference_b, _ = embed_all(B_RECORDS, encode, tmp_path / "reference", "B", shard_size=5)
    paused, resume = threading.Event(), threading.Event()

    def encode_a(batch):
        if batch[0]["id"] == "a5":  # shard 0 is written; hold shard 1
            paused.set()
            assert resume.wait(30)
        return encode(batch)

    def run(records, encode_batch, fingerprint):
        embed_all(records, encode_batch, cache, fingerprint, shard_size=5, owner=fingerprint)

    build_a = threading.Thread(target=run, args=(A_RECORDS, encode_a, "A"))
    build_a.start()
    assert paused.wait(30)
    build_b = threading.Thread(target=run, args=(B_RECORDS, encode, "B"))
    build_b.start()
    build_b.join(1.0)
    assert build_b.is_alive()  # waiting for the cache's lock, not writing beside A
    resume.set()
    build_a.join(30)
    build_b.join(30)

    def refuse(batch):
        raise AssertionError("B's shards are all in the cache")

    vectors, stats = embed_all(B_RECORDS, refuse, cache, "B", shard_size=5, owner="B")
    assert stats == {"shards_reused": 5, "shards_computed": 0}
    np.testing.assert_array_equal(vectors, reference_b)


def test_kbs_of_other_content_share_a_cache_and_each_resumes_its_own(tmp_path, hashing_encoder, encoder_dir):
    cache = tmp_path / "shared-cache"
    a = write_passages(tmp_path / "a" / "in.jsonl", ["volcano", "river", "castle"])
    b = write_passages(tmp_path / "b" / "in.jsonl", ["harbour", "glacier"])
    build(a, tmp_path / "a" / "kb", hashing_encoder, encoder_dir, shard_dir=cache)
    build(b, tmp_path / "b" / "kb", hashing_encoder, encoder_dir, shard_dir=cache)
    for source, count in ((a, 3), (b, 2)):
        manifest, stats = build(
            source, source.parent / "kb", hashing_encoder, encoder_dir, shard_dir=cache, replace=True
        )
        assert (manifest["count"], stats["shards_reused"], stats["shards_computed"]) == (count, 1, 0)
    hits = KnowledgeBase(tmp_path / "b" / "kb", encoder=hashing_encoder).search(["glacier"], k=1)
    assert hits[0][0].id == "in-1"


# --- 3. a damaged KB is refused, naming the file ------------------------------------------------------------------


@pytest.fixture
def built(tmp_path, text_kb_file, hashing_encoder, encoder_dir) -> Path:
    build(text_kb_file, tmp_path / "kb", hashing_encoder, encoder_dir)
    return tmp_path / "kb"


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_manifest_records_sizes_and_hashes_of_the_kb_files(built, encoder_dir):
    manifest = json.loads((built / "manifest.json").read_text())
    for name in ("index.faiss", "records.parquet"):
        assert manifest["files"][name]["size"] == (built / name).stat().st_size
        assert manifest["files"][name]["sha256"] == tree_sha256(built / name)
    assert manifest["encoder"] == {
        "family": "text",
        "path": os.path.relpath(encoder_dir.resolve(), built.resolve()),
        "sha256": tree_sha256(encoder_dir),
    }


@pytest.mark.parametrize("name", ["index.faiss", "records.parquet"])
def test_a_flipped_byte_is_refused_naming_the_file(built, hashing_encoder, name):
    flip_byte(built / name)
    with pytest.raises(DataError, match="sha256 differs from the KB's manifest") as caught:
        KnowledgeBase(built, encoder=hashing_encoder)
    assert caught.value.path == str(built / name)


def test_sizes_are_checked_even_when_hashing_is_off(built, hashing_encoder):
    flip_byte(built / "index.faiss")
    KnowledgeBase(built, encoder=hashing_encoder, verify=False)  # a large KB opens on its sizes alone
    with (built / "index.faiss").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match=r"index\.faiss: is \d+ bytes but the KB's manifest says"):
        KnowledgeBase(built, encoder=hashing_encoder, verify=False)


class NarrowEncoder:
    dim = 128

    def encode(self, texts, batch_size=64, show_progress=False):
        return np.ones((len(texts), self.dim), dtype=np.float32)


def test_an_encoder_of_another_dimension_is_refused(built):
    with pytest.raises(DataError, match="the encoder embeds 128-dimensional vectors, but the KB holds 256") as caught:
        KnowledgeBase(built, encoder=NarrowEncoder())
    assert caught.value.path == str(built / "index.faiss")


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not a readable KB manifest"), ('{"count": 10}', "field 'kind'"), ("[1]", "a JSON list")],
)
def test_a_manifest_that_is_not_a_kb_manifest_is_one_clear_error(built, hashing_encoder, content, message):
    (built / "manifest.json").write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        KnowledgeBase(built, encoder=hashing_encoder)
    assert caught.value.path == str(built / "manifest.json")


def test_the_cli_reports_a_damaged_kb_in_one_line(built, tmp_path):
    flip_byte(built / "index.faiss")
    proc = r1router("kb", "search", "--kb", str(built), "--query", "glacier", cwd=tmp_path)
    assert_one_line_error(proc, f"error: {built / 'index.faiss'}: sha256 differs")


# --- 4. image paths stay inside their base directory --------------------------------------------------------------


def image_kb_file(folder: Path, image: str) -> Path:
    png(folder / "img" / "a.png")
    rows = [{"id": "a", "image": "img/a.png", "caption": "a flag"}, {"id": "b", "image": image, "caption": "a logo"}]
    path = folder / "images.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def no_model(monkeypatch):
    """Fail the test if a build gets as far as loading an encoder."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the records were refused")

    monkeypatch.setattr(build_module, "load_encoder", refuse)


def escape_by_dotdot(folder: Path) -> str:
    png(folder.parent / "elsewhere" / "back.png")
    return "../elsewhere/back.png"


def escape_by_absolute_path(folder: Path) -> str:
    return "/etc/hostname"


def escape_by_symlink(folder: Path) -> str:
    (folder / "img").mkdir(parents=True, exist_ok=True)
    (folder / "img" / "link.png").symlink_to(png(folder.parent / "elsewhere" / "back.png"))
    return "img/link.png"


@pytest.mark.parametrize(
    ("make_image", "message"),
    [
        (escape_by_dotdot, "outside"),
        (escape_by_absolute_path, "expected a path relative to"),
        (escape_by_symlink, "outside"),
    ],
)
@pytest.mark.usefixtures("no_model")
def test_an_image_path_cannot_leave_its_folder(tmp_path, encoder_dir, make_image, message):
    folder = tmp_path / "user"
    path = image_kb_file(folder, make_image(folder))
    with pytest.raises(DataError, match=message) as caught:
        build(path, tmp_path / "kb", None, encoder_dir, kind="image")
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 2, "image")
    assert not (tmp_path / "kb").exists()


@pytest.mark.usefixtures("no_model")
def test_an_image_that_does_not_decode_or_is_a_bomb_is_refused(tmp_path, encoder_dir, monkeypatch):
    folder = tmp_path / "user"
    path = image_kb_file(folder, "img/b.png")
    (folder / "img" / "b.png").write_bytes(b"<html>404</html>")
    with pytest.raises(DataError, match=r"line 2, field 'image': .*b\.png: not a decodable image"):
        build(path, tmp_path / "kb", None, encoder_dir, kind="image")
    png(folder / "img" / "b.png", (5, 4))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 16)  # 20 pixels: over the limit, under Pillow's own error at 2x
    with pytest.raises(DataError, match=r"line 2, field 'image': .*decompression bomb"):
        build(path, tmp_path / "kb", None, encoder_dir, kind="image")


class RecordingFusedEncoder:
    """Stands in for CLIP: notes which image files the build hands it."""

    dim = 8

    def __init__(self):
        self.images: list[Path | None] = []

    def encode_fused(self, images, texts):
        self.images.extend(images)
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows[:, 0] = 1.0
        return rows


def test_a_corpus_resolves_its_images_under_its_image_root_wherever_it_is(tmp_path, encoder_dir):
    root = tmp_path / "M-BEIR"
    png(root / "mbeir_images" / "1.png")
    pool = tmp_path / "pool.jsonl"
    candidate = {"txt": "A harbour.", "img_path": "mbeir_images/1.png", "modality": "image,text", "did": "9:1"}
    text = {"txt": "A fact.", "modality": "text", "did": "9:2"}
    pool.write_text(json.dumps(candidate) + "\n" + json.dumps(text) + "\n")
    build_mbeir_corpus(pool, tmp_path / "work" / "image", images_root=root)
    moved = tmp_path / "data" / "corpus" / "image"
    shutil.copytree(tmp_path / "work" / "image", moved)  # as the pipeline links a finished corpus into its output
    encoder = RecordingFusedEncoder()
    manifest, _ = build(moved, tmp_path / "kb", encoder, encoder_dir, kind="image")
    # the last call is the shard, in record order; the calls before it timed the encoder on a sample
    assert manifest["count"] == 2 and encoder.images[-2:] == [(root / "mbeir_images" / "1.png").resolve(), None]
    assert set(encoder.images) == {(root / "mbeir_images" / "1.png").resolve(), None}


def test_a_corpus_record_cannot_leave_its_image_root(tmp_path):
    root = tmp_path / "images"
    png(tmp_path / "secret.png")
    root.mkdir()
    writer = ShardWriter(tmp_path / "corpus", {"format": "test"}, shard_size=10)
    writer.add_unit(0, [{"id": "x", "caption": "c", "image": "../secret.png"}])
    writer.finish({"image_root": str(root)})
    with pytest.raises(DataError, match="outside") as caught:
        load_records(tmp_path / "corpus", get_kind("image"))
    assert (caught.value.path, caught.value.line, caught.value.field) == (
        str(tmp_path / "corpus" / "part-00000.parquet"),
        1,
        "image",
    )


# --- 9. a passage has a bounded size ----------------------------------------------------------------------------


def test_an_oversized_passage_is_refused_by_line_before_any_model_loads(tmp_path, hashing_encoder, encoder_dir):
    """A 60 MB passage once took 10 GB of RAM and was stored whole."""
    path = write_passages(tmp_path / "passages.jsonl", ["volcano", "river"])
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "book", "text": "word " * 5000}) + "\n")
    with pytest.raises(DataError, match=r"line 3: passage of 5000 words is over max_passage_words=4096"):
        build(path, tmp_path / "kb", hashing_encoder, encoder_dir)
    assert hashing_encoder.calls == 0 and not (tmp_path / "kb").exists()
    manifest, _ = build(path, tmp_path / "kb", hashing_encoder, encoder_dir, max_passage_words=None)
    assert manifest["count"] == 3  # the bound is a param: None lifts it
    proc = kb_build_text(path, encoder_dir, "other", "--max-passage-words", "3", cwd=tmp_path)
    assert_one_line_error(proc, f"{path}, line 1: passage of 5 words is over max_passage_words=3")


# --- 11. a KB is self-contained; a local path is never a hub lookup -----------------------------------------------


def test_a_local_encoder_path_that_does_not_exist_is_an_error_not_a_hub_lookup(tmp_path, monkeypatch):
    import r1router.encoders.text as text_module

    def hub(*args, **kwargs):
        raise AssertionError("went to the hub")

    monkeypatch.setattr(text_module, "TextEncoder", hub)
    with pytest.raises(DataError, match="encoder directory not found") as caught:
        load_encoder({"family": "text", "path": "models/no_such_encoder"}, get_kind("text"), "cpu", tmp_path)
    assert caught.value.path == str(tmp_path / "models" / "no_such_encoder")


def test_a_hub_id_is_named_as_given_and_loaded_from_the_hub(monkeypatch):
    import r1router.encoders.text as text_module

    loaded = []
    monkeypatch.setattr(text_module, "TextEncoder", lambda source, device, batch_size: loaded.append(source))
    spec = {"family": "text", "hub": "BAAI/bge-m3"}
    assert manifest_spec(spec, get_kind("text"), Path("kb")) == spec
    load_encoder(spec, get_kind("text"), "cpu")
    assert loaded == ["BAAI/bge-m3"]


def test_the_manifest_names_the_encoder_from_the_kb_wherever_the_build_ran(tmp_path, text_kb_file, hashing_encoder):
    """Relative to the KB directory: the same manifest in every clone, and the KB finds its encoder after a move
    of the two together (a DVC pull into another checkout)."""
    encoder = tmp_path / "project" / "models" / "enc"
    encoder.mkdir(parents=True)
    (encoder / "weights.bin").write_bytes(b"w")
    spec = {"path": "models/enc"}  # relative to the project, as params.yaml writes it
    manifest, _ = build_kb(
        "text",
        text_kb_file,
        tmp_path / "kb",
        spec,
        IndexConfig(),
        shard_dir=tmp_path / "c",
        root=tmp_path / "project",
        encoder=hashing_encoder,
    )
    assert manifest["encoder"] == {"family": "text", "path": "../project/models/enc", "sha256": tree_sha256(encoder)}
    shutil.move(tmp_path / "project", tmp_path / "moved" / "project")
    shutil.move(tmp_path / "kb", tmp_path / "moved" / "kb")
    assert KnowledgeBase(tmp_path / "moved" / "kb", encoder=hashing_encoder).search(["glacier"], k=1)[0]


def test_a_changed_encoder_is_refused_when_the_kb_opens(built, encoder_dir):
    (encoder_dir / "weights.bin").write_bytes(b"retrained")
    with pytest.raises(DataError, match="encoder files changed since the KB was built") as caught:
        KnowledgeBase(built)
    assert caught.value.path == str(encoder_dir.resolve())


@pytest.mark.slow
def test_build_and_search_from_a_folder_of_ones_own(tmp_path, text_encoder_dir):
    """No params.yaml, no repo: everything on the command line; the KB then searches from anywhere."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_passages(home / "passages.jsonl", ["volcano", "river", "castle", "harbour", "glacier"])
    common = ["kb", "build", "--kind", "text", "--input", "passages.jsonl", "--out", "kb"]
    assert_one_line_error(r1router(*common, cwd=home), "name it with --encoder")
    proc = r1router(*common, "--encoder", str(text_encoder_dir), "--device", "cpu", cwd=home)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((home / "kb" / "manifest.json").read_text())
    assert (home / "kb" / manifest["encoder"]["path"]).resolve() == Path(text_encoder_dir).resolve()
    assert sorted(p.name for p in home.iterdir()) == ["kb", "kb.shards", "passages.jsonl"]  # the cache beside the KB
    search = ["kb", "search", "--kb", str(home / "kb"), "--query", "the glacier", "-k", "2", "--json"]
    proc = r1router(*search, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["id"] == "passages-4"
    assert_one_line_error(r1router(*common, "--encoder", str(text_encoder_dir), cwd=home), "--force")
    proc = r1router(*common, "--encoder", str(text_encoder_dir), "--device", "cpu", "--force", cwd=home)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stats"]["shards_reused"] == 1
    assert os.listdir(elsewhere) == []


def test_an_index_that_will_not_fit_is_refused_before_anything_is_embedded(
    tmp_path, text_kb_file, hashing_encoder, encoder_dir, monkeypatch
):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 1024})())
    with pytest.raises(ConfigError, match=r"a flat index of 10 x 256 vectors needs about .* GiB is available"):
        build(text_kb_file, tmp_path / "kb", hashing_encoder, encoder_dir)
    assert not (tmp_path / "kb").exists()
    assert not list(tmp_path.rglob("emb-*.npy"))  # refused from the estimate, not after hours of embedding
    monkeypatch.undo()
    _, stats = build(text_kb_file, tmp_path / "kb", hashing_encoder, encoder_dir)
    assert stats["shards_computed"] == 1 and 0 <= stats["estimated_seconds"] < 60
