"""The paper profile's real-data path, smoke-sized: sources served over loopback HTTP in the paper's formats,
fetched, turned into corpora, KBs and a world with images, then evaluated.

The files are built here from the paper's released passages: a multistream
enwiki dump with its index (whole short articles and redirects whose cleaned
text is a released `ter` passage), an Open-WikiTable `data.tar.gz` (the
released `tar` passages parsed back into tables), an M-BEIR pool (the `tir`
passages, two with images), three benchmark files from the released
validation sets with Dyn-VQA images downloaded by URL and WebQA images from a
folder, and the released trajectories as the train split. Only the models
are the small ones (no hub here).
"""

from __future__ import annotations

import io
import json
import re
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from PIL import Image

from r1router.corpus.multistream import Page, write_multistream
from r1router.corpus.owt import parse_linearized_table
from r1router.corpus.retrieved import retrieved_passages
from r1router.corpus.shards import iter_corpus

PLAIN = re.compile(r"^[A-Za-z0-9 ,.()'\"-]+$")  # text the wikitext cleaner leaves as it is


def released_passages(sample: Path) -> dict[str, list[str]]:
    """Every distinct passage the released trajectories show, by tag, in first-seen order."""
    seen: dict[str, dict[str, None]] = {"ter": {}, "tar": {}, "tir": {}}
    for line in sample.read_text(encoding="utf-8").splitlines():
        for step in json.loads(line)["steps"]:
            for passage in retrieved_passages(step["problem"]):
                seen[passage.tag][passage.text] = None
    return {tag: list(texts) for tag, texts in seen.items()}


def wiki_pages(ter: list[str]) -> tuple[list[Page], list[str]]:
    """Pages whose cleaned passage is a released one: plain short articles, and title-only redirects."""
    pages, expected = [], []
    for text in ter:
        title, _, body = text.partition("\n\n")
        if body and "\n" not in body and PLAIN.match(title) and PLAIN.match(body):
            pages.append(Page(100 + len(pages), title, 0, None, body))
        elif not body and "\n" not in text and len(text.split()) <= 7 and PLAIN.match(text):
            pages.append(Page(100 + len(pages), text, 0, "Main Page", "#REDIRECT [[Main Page]]"))
        else:
            continue
        expected.append(text)
    return pages, expected


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48, 32), colour).save(out, "JPEG")
    return out.getvalue()


def owt_archive(tar_passages: list[str]) -> bytes:
    chunks = []
    for passage in tar_passages:
        table = parse_linearized_table(passage)
        chunks.append({**table, "original_table_id": table.pop("table_id"), "flattened": passage})
    payload = json.dumps(chunks).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo("data/splitted_tables.json")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def mbeir_pool(tir: list[str], root: Path) -> bytes:
    """The `tir` passages as M-BEIR text candidates, plus two image+text candidates whose images exist."""
    lines = [{"txt": text, "modality": "text", "did": f"9:{n}", "src_content": None} for n, text in enumerate(tir)]
    for n, colour in enumerate([(200, 30, 30), (30, 200, 30)]):
        path = root / "mbeir_images" / "webqa_images" / f"cand{n}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(colour))
        lines.append(
            {"txt": f"A photo of landmark {n}.", "img_path": f"mbeir_images/webqa_images/cand{n}.jpg",
             "modality": "image,text", "did": f"9:{len(tir) + n}", "src_content": None}
        )
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def first_lines(path: Path, count: int) -> bytes:
    return "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:count]).encode()


@pytest.mark.slow
def test_paper_formats_run_from_fetched_sources_to_evaluation(
    paper_workspace, corpus_server, release_dir, released_sample, tmp_path
):
    ws = paper_workspace
    passages = released_passages(released_sample)
    pages, wiki_expected = wiki_pages(passages["ter"])
    assert len(wiki_expected) >= 20, "the released sample should give articles and redirects to rebuild"
    dump, index = write_multistream(tmp_path / "dump.xml.bz2", tmp_path / "index.txt.bz2", pages, per_stream=7)

    served = {
        "enwiki.xml.bz2": dump.read_bytes(),
        "enwiki-index.txt.bz2": index.read_bytes(),
        "data.tar.gz": owt_archive(passages["tar"]),
        "pool.jsonl": mbeir_pool(passages["tir"], tmp_path / "mbeir"),
        "2wikimultihopqa_val.jsonl": first_lines(release_dir / "2wikimultihopqa_val.jsonl", 3),
        "DynVQA_en.202412.jsonl": first_lines(release_dir / "DynVQA_en.202412.jsonl", 3),
        "webqa_val.jsonl": first_lines(release_dir / "webqa_val.jsonl", 2),
        "train.jsonl": released_sample.read_bytes(),
    }
    dyn_rows = [json.loads(line) for line in served["DynVQA_en.202412.jsonl"].decode().splitlines()]
    omnisearch = []
    for n, row in enumerate(dyn_rows):  # OmniSearch's copy: the URL's number is not the question's
        omnisearch.append({"question_id": row["question_id"], "image_url": f"{corpus_server.url}/img/{n + 50}.jpeg"})
        if n < 2:  # the third image is gone from the server: counted missing, evaluated text-only
            corpus_server.put(f"/img/{n + 50}.jpeg", jpeg((10 * n, 90, 160)))
    served["omnisearch.jsonl"] = "".join(json.dumps(row) + "\n" for row in omnisearch).encode()
    webqa_images = tmp_path / "webqa_images"
    webqa_images.mkdir()
    for line in served["webqa_val.jsonl"].decode().splitlines():
        (webqa_images / f"{json.loads(line)['image_id']}.jpg").write_bytes(jpeg((120, 120, 40)))

    sources = {}
    for name, body in served.items():
        url = corpus_server.put(f"/{name}", body)
        sources[name.split(".")[0].replace("-", "_")] = {"uri": url, "dest": f"data/sources/{name}"}
    benchmarks = {
        "2wikimultihopqa": {"questions": "data/sources/2wikimultihopqa_val.jsonl"},
        "dyn_vqa": {
            "questions": "data/sources/DynVQA_en.202412.jsonl",
            "images": {"omnisearch_file": "data/sources/omnisearch.jsonl", "http_timeout_seconds": 5,
                       "retries": 0, "retry_delay_seconds": 0},
        },
        "webqa": {"questions": "data/sources/webqa_val.jsonl", "images": {"webqa_images": str(webqa_images)}},
    }
    paper = "profiles.paper"
    root = ws.root
    ws.set_param(f"{paper}.refresh.sources", sources)
    ws.set_param(f"{paper}.refresh.retries", 0)
    ws.set_param(f"{paper}.world.train", "data/sources/train.jsonl")
    ws.set_param(f"{paper}.world.benchmarks", benchmarks)
    smoke_models = yaml.safe_load((root / "params.yaml").read_text())["profiles"]["smoke"]["models"]["specs"]
    ws.set_param(f"{paper}.models.specs", smoke_models)  # the small models: no hub here
    ws.set_param(f"{paper}.corpus.shard_size", 64)
    ws.set_param(f"{paper}.corpus.builds", {
        "text": {"format": "wiki", "input": "data/sources/enwiki.xml.bz2", "index": "data/sources/enwiki-index.txt.bz2",
                 "redirects": "keep"},
        "table": {"format": "owt", "input": "data/sources/data.tar.gz", "bad_rows": "fail"},
        "image": {"format": "mbeir", "input": "data/sources/pool.jsonl", "images_root": str(tmp_path / "mbeir"),
                  "bad_lines": "fail"},
    })
    flat = {"type": "flat"}
    text_encoder = {"family": "text", "path": "models/text_encoder"}
    for kind in ("text", "table"):
        ws.set_param(f"{paper}.kb.{kind}", {"input": f"data/corpus/{kind}", "encoder": text_encoder, "index": flat})
    clip = {"family": "image", "name": "ViT-B-32", "pretrained": None}  # the paper's CLIP shape, no weights offline
    ws.set_param(f"{paper}.kb.image", {"input": "data/corpus/image", "encoder": clip, "index": flat})
    ws.set_param(f"{paper}.kb.device", "cpu")
    ws.set_param(f"{paper}.kb.shard_size", 256)
    ws.set_param(f"{paper}.kb.batch_size", 32)
    ws.set_param(f"{paper}.router.device", "cpu")
    ws.set_param(f"{paper}.router.precision", "float32")
    ws.set_param(f"{paper}.router.loop.decision", {"max_new_tokens": 24, "batch_size": 8})
    ws.set_param(f"{paper}.router.loop.answer", {"max_new_tokens": 16, "batch_size": 8})
    ws.set_param(f"{paper}.router.loop.recovery", {"retries": 0, "corrective_turn": False, "retry_temperature": 0.7})
    ws.set_param(f"{paper}.evaluate.methods", {"direct": "models/policy", "rag-text": "models/policy"})
    ws.set_param(f"{paper}.evaluate.missing_images", "text-only")

    dag = ws.dvc("dag", "--dot").stdout
    assert '"corpus" -> "kb"' in dag and '"world" -> "kb"' in dag

    repro = ws.r1router("repro", "kb")  # fetches every missing source over HTTP, then world, models, corpus, kb
    assert repro.stderr.count("fetched missing corpus source") == len(served)
    for name, body in served.items():
        assert (root / "data" / "sources" / name).read_bytes() == body

    # world: the benchmark files byte for byte, the images assembled, the missing one named
    world = root / "data" / "world"
    for name, spec in benchmarks.items():
        assert (world / "questions" / name / "test.jsonl").read_bytes() == (root / spec["questions"]).read_bytes()
    assert sorted(p.name for p in (world / "images").iterdir()) == sorted(
        [f"{row['image_id']}.jpg" for row in dyn_rows[:2]]
        + [f"{json.loads(line)['image_id']}.jpg" for line in served["webqa_val.jsonl"].decode().splitlines()]
    )
    dyn_report = json.loads((world / "image-reports" / "dyn_vqa.json").read_text())
    assert dyn_report["missing"] == [str(dyn_rows[2]["image_id"])]
    world_metrics = json.loads((root / "metrics" / "world.json").read_text())
    assert world_metrics["dyn_vqa"] == {"test": 3, "images_wanted": 3, "images_missing": 1, "images_bad": 0}
    assert sum(world_metrics[b]["train"] for b in ("release_text", "release_table", "release_visual")) == 60

    # corpus: the released passages rebuilt byte for byte from the dump and the tables archive
    corpus = root / "data" / "corpus"
    texts = {record["text"] for _, _, record in iter_corpus(corpus / "text")}
    assert set(wiki_expected) <= texts
    assert {record["text"] for _, _, record in iter_corpus(corpus / "table")} == set(passages["tar"])
    images = [record for _, _, record in iter_corpus(corpus / "image")]
    assert len(images) == len(passages["tir"]) + 2 and sum(r["image"] is not None for r in images) == 2
    counts = json.loads((root / "metrics" / "corpus.json").read_text())
    assert counts["text"]["."]["redirects"] == sum(page.redirect is not None for page in pages)
    assert counts["table"]["."]["kept"] == len(passages["tar"])

    # kb: the train questions' gold sub-questions find the released passages among the rebuilt ones
    recall = json.loads((root / "metrics" / "retrieval.json").read_text())["recall@5"]
    assert recall["text"] > 0 and recall["table"] > 0.5

    evaluate = ws.run(sys.executable, "-m", "flows.evaluate")
    assert evaluate.returncode == 0
    results = json.loads((root / "metrics" / "eval.json").read_text())
    assert set(results) == set(benchmarks)
    for by_method in results.values():
        assert set(by_method) == {"direct", "rag-text"}
        assert all(0.0 <= m["f1_recall"] <= 100.0 for m in by_method.values())
    assert results["dyn_vqa"]["direct"]["image_missing"] == 1
    assert results["webqa"]["direct"]["image_missing"] == 0
    assert (root / "reports" / "table1.md").is_file()
