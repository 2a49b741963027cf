"""`r1router.refresh` without Prefect: config checks, fingerprints, atomic fetches, the state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from r1router.errors import ConfigError, DataError
from r1router.refresh import Source, fetch, fingerprint, is_stale, load_config, read_state, record, write_state


def _http(url: str, dest: str = "corpus/c2.txt") -> Source:
    return Source("web", url, dest, ("b",))


def test_config_names_the_reading_stages_and_resolves_the_state_file(toy_project):
    toy_project.set_sources(
        {"corpus1": {"uri": "upstream/c1.txt", "dest": "corpus/c1.txt"}, "corpus2": {"uri": "x", "dest": "corpus"}}
    )
    config = load_config(toy_project.root)
    assert [(s.name, s.stages) for s in config.sources] == [("corpus1", ("a",)), ("corpus2", ("a", "b"))]
    assert config.state == toy_project.root / "data/cache/refresh-state.json"
    assert (config.retries, config.retry_delay_seconds) == (1, (0.0,))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"uri": "u", "dest": "unused.txt"}, r"refresh\.sources\.s\.dest: 'unused.txt' is a dep of no stage"),
        ({"uri": "u", "dest": "out/a.txt"}, r"refresh\.sources\.s\.dest: 'out/a.txt' is an output of stage \['a'\]"),
        ({"uri": "ftp://h/c", "dest": "corpus/c1.txt"}, r"refresh\.sources\.s\.uri: scheme 'ftp'"),
        ({"uri": "u", "dest": "../c1.txt"}, r"refresh\.sources\.s\.dest: '\.\./c1\.txt' must be a path inside"),
        ({"uri": "u"}, r"refresh\.sources\.s: needs string fields 'uri' and 'dest'"),
    ],
)
def test_bad_sources_are_refused_naming_file_and_key(toy_project, spec, message):
    toy_project.set_sources({"s": spec})
    with pytest.raises(ConfigError, match=message) as error:
        load_config(toy_project.root)
    assert str(toy_project.root / "params.yaml") in str(error.value)


def test_missing_refresh_section_is_named(toy_project):
    (toy_project.root / "params.yaml").write_text(yaml.safe_dump({"profile": "toy", "profiles": {"toy": {}}}))
    with pytest.raises(ConfigError, match=r"profiles\.toy\.refresh is missing"):
        load_config(toy_project.root)


def test_local_fingerprint_is_the_content_hash_for_paths_and_file_urls(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("v1")
    by_path = fingerprint(Source("c", "corpus.txt", "d", ()), tmp_path, 5)
    by_url = fingerprint(Source("c", corpus.as_uri(), "d", ()), tmp_path, 5)
    assert by_path == by_url == "sha256:3bfc269594ef649228e9a74bab00f042efc91d5acc6fbee31a382e80d42388fe"
    corpus.write_text("v2")
    assert fingerprint(Source("c", "corpus.txt", "d", ()), tmp_path, 5) != by_path
    with pytest.raises(DataError, match="corpus source 'c' not found"):
        fingerprint(Source("c", "missing.txt", "d", ()), tmp_path, 5)


def test_http_fingerprint_uses_validators_from_head_without_downloading(corpus_server, tmp_path):
    url = corpus_server.put("/c.txt", b"version one")
    first = fingerprint(_http(url), tmp_path, 5)
    assert first.startswith('etag:"')
    assert corpus_server.requests == {("HEAD", "/c.txt"): 1}
    corpus_server.put("/c.txt", b"version two")
    assert fingerprint(_http(url), tmp_path, 5) != first


def test_http_without_etag_uses_last_modified_and_length(corpus_server, tmp_path):
    url = corpus_server.put("/c.txt", b"abc", etag=False)
    value = fingerprint(_http(url), tmp_path, 5)
    assert value == "modified:Tue, 14 Nov 2023 22:13:20 GMT;length:3"
    corpus_server.put("/c.txt", b"abcd", etag=False)  # same date, new length
    assert fingerprint(_http(url), tmp_path, 5) != value


def test_http_fetch_is_atomic_and_returns_what_it_fetched(corpus_server, tmp_path):
    dest = tmp_path / "corpus/c2.txt"
    dest.parent.mkdir()
    dest.write_text("old")
    source = _http(corpus_server.put("/c.txt", b"new content"))
    fetched = fetch(source, tmp_path, 5)
    assert dest.read_bytes() == b"new content"
    assert fetched == fingerprint(source, tmp_path, 5)

    corpus_server.put("/c.txt", b"x" * 4096, truncate=True)
    with pytest.raises(DataError, match="download ended after 2048 of 4096 bytes"):
        fetch(source, tmp_path, 5)
    corpus_server.put("/c.txt", b"y" * 10, fail_get=True)
    with pytest.raises(OSError, match="500"):
        fetch(source, tmp_path, 5)
    assert dest.read_bytes() == b"new content"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["c2.txt"]  # no temporary file left behind


def test_local_fetch_copies_files_and_directories(tmp_path):
    (tmp_path / "up/dir").mkdir(parents=True)
    (tmp_path / "up/dir/part.txt").write_text("p")
    (tmp_path / "up/file.txt").write_text("f")
    file_source = Source("f", str(tmp_path / "up/file.txt"), "repo/file.txt", ())
    dir_source = Source("d", (tmp_path / "up/dir").as_uri(), "repo/dir", ())
    assert fetch(file_source, tmp_path, 5) == fingerprint(file_source, tmp_path, 5)
    assert fetch(dir_source, tmp_path, 5) == fingerprint(dir_source, tmp_path, 5)
    assert (tmp_path / "repo/file.txt").read_text() == "f"
    assert (tmp_path / "repo/dir/part.txt").read_text() == "p"


def test_state_round_trip_and_staleness(tmp_path):
    source = Source("c", "up.txt", "corpus.txt", ())
    state_file = tmp_path / "state.json"
    assert read_state(state_file) == {}
    write_state(state_file, {"c": record(source, "sha256:1")})
    state = read_state(state_file)
    assert is_stale(source, "sha256:1", state, tmp_path)  # recorded, but its dest is gone
    (tmp_path / "corpus.txt").write_text("x")
    assert not is_stale(source, "sha256:1", state, tmp_path)
    assert is_stale(source, "sha256:2", state, tmp_path)
    assert is_stale(Source("c", "elsewhere.txt", "corpus.txt", ()), "sha256:1", state, tmp_path)


def test_corrupt_state_is_refused_naming_file_line_and_field(tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text('{\n  "sources": {\n')
    with pytest.raises(DataError, match=r"state\.json, line 3: not valid JSON"):
        read_state(state_file)
    state_file.write_text(json.dumps({"sources": {"c": {"uri": "u", "dest": "d"}}}))
    with pytest.raises(DataError, match=r"field 'sources\.c\.fingerprint'"):
        read_state(state_file)


def test_paper_profile_lists_its_corpora_by_url_and_the_others_have_none():
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    paper = params["profiles"]["paper"]["refresh"]["sources"]
    assert paper and all(spec["uri"].startswith("https://") for spec in paper.values())
    assert params["profiles"]["demo"]["refresh"]["sources"] == params["profiles"]["smoke"]["refresh"]["sources"] == {}
