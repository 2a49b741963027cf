"""The policy factory: specs from params (good and bad), each backend picked by its name, `auto` by the checkpoint."""

import subprocess
import sys

import pytest

from r1router.errors import ConfigError, DataError
from r1router.router import backends
from r1router.router.backends import PolicySpec, load_hf_policy, load_policy, policy_spec
from r1router.router.policy import CausalLMPolicy
from r1router.router.policy_openai import OpenAIPolicy
from r1router.router.policy_vl import VisionLanguagePolicy

ENDPOINT = {"base_url": "http://127.0.0.1:8000/v1", "model": "served-7b"}


def test_a_directory_is_the_auto_backend_on_the_profiles_device_and_precision():
    spec = policy_spec("routers/step-grpo", "evaluate.methods.step-grpo", device="cpu", precision="bfloat16")
    assert spec == PolicySpec("auto", "routers/step-grpo", "cpu", "bfloat16")
    assert spec.local_model == "routers/step-grpo" and spec.describe() == "routers/step-grpo"


def test_a_mapping_names_its_backend_and_may_set_its_own_precision():
    spec = policy_spec(
        {"backend": "hf-causal", "model": "models/policy", "precision": "float32"}, "m", "cpu", "bfloat16"
    )
    assert (spec.backend, spec.device, spec.precision) == ("hf-causal", "cpu", "float32")
    assert spec.describe() == "hf-causal:models/policy"
    served = policy_spec({"backend": "openai", "endpoint": {**ENDPOINT, "concurrency": 2}}, "m")
    assert (served.endpoint.model, served.endpoint.concurrency, served.local_model) == ("served-7b", 2, None)
    assert served.describe() == "openai:served-7b@http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"backend": "sglang", "model": "m"}, r"^evaluate.methods.x: unknown backend 'sglang'"),
        ({"backend": "vllm"}, r"vllm needs `model`"),
        ({"model": "m", "dtype": "bf16"}, r"^evaluate.methods.x: unknown keys \['dtype'\]"),
        ({"backend": "hf-vl"}, r"hf-vl needs `model`"),
        ({"backend": "hf-causal", "model": "m", "endpoint": ENDPOINT}, r"and no `endpoint`"),
        ({"backend": "openai"}, r"openai needs `endpoint`"),
        ({"backend": "openai", "model": "m", "endpoint": ENDPOINT}, r"and no `model`"),
        ({"backend": "openai", "endpoint": {"base_url": "http://h/v1"}}, r"^evaluate.methods.x.endpoint: missing"),
        ({"backend": "openai", "endpoint": {**ENDPOINT, "timeout": 3}}, r"x.endpoint: unknown keys \['timeout'\]"),
        ({"backend": "openai", "endpoint": {**ENDPOINT, "base_url": "localhost:8000"}}, r"x.endpoint: .*http"),
        ({"backend": "openai", "endpoint": "http://h/v1"}, r"x.endpoint: expected a mapping"),
        (["models/policy"], r"expected a model directory or a mapping"),
    ],
)
def test_a_bad_spec_is_a_config_error_naming_its_key(value, message):
    with pytest.raises(ConfigError, match=message):
        policy_spec(value, "evaluate.methods.x")


@pytest.fixture
def loads(monkeypatch):
    """Every HF backend load, recorded instead of done; sniffing the checkpoint fails the test."""
    calls = []

    def recorder(cls):
        def load(model_dir, device, precision):
            calls.append((cls.__name__, model_dir, device, precision))
            return cls.__new__(cls)

        return staticmethod(load)

    monkeypatch.setattr(CausalLMPolicy, "load", recorder(CausalLMPolicy))
    monkeypatch.setattr(VisionLanguagePolicy, "load", recorder(VisionLanguagePolicy))
    monkeypatch.setattr(backends, "is_vision_language", lambda model_dir: pytest.fail("an explicit backend sniffed"))
    return calls


def test_explicit_backends_load_without_looking_inside_the_model(loads):
    assert isinstance(load_policy(PolicySpec("hf-causal", "a-vl-checkpoint", "cpu", "float32")), CausalLMPolicy)
    assert isinstance(load_policy(PolicySpec("hf-vl", "any-dir")), VisionLanguagePolicy)
    assert loads == [
        ("CausalLMPolicy", "a-vl-checkpoint", "cpu", "float32"),
        ("VisionLanguagePolicy", "any-dir", "auto", "auto"),
    ]


def test_openai_builds_the_client_and_loads_no_model(loads):
    policy = load_policy(policy_spec({"backend": "openai", "endpoint": ENDPOINT}, "m"))
    assert isinstance(policy, OpenAIPolicy) and policy.config.model == "served-7b" and loads == []
    with pytest.raises(ConfigError, match="gives no in-process transformers model"):
        load_hf_policy(policy_spec({"backend": "openai", "endpoint": ENDPOINT}, "m"))


def test_auto_picks_by_the_checkpoints_vision_tower(loads, monkeypatch):
    monkeypatch.setattr(backends, "verify_model_dir", lambda path: None)
    monkeypatch.setattr(backends, "is_vision_language", lambda model_dir: model_dir == "qwen-vl")
    load_policy(PolicySpec(model="qwen-vl"))
    load_policy(PolicySpec(model="smollm"))
    assert [(name, model) for name, model, _, _ in loads] == [
        ("VisionLanguagePolicy", "qwen-vl"),
        ("CausalLMPolicy", "smollm"),
    ]


def test_auto_on_a_missing_directory_says_so_before_reading_its_config(tmp_path):
    with pytest.raises(DataError, match="model directory not found"):
        load_policy(PolicySpec(model=str(tmp_path / "absent")))


def test_the_loop_and_the_factory_import_no_hf_backend():
    """Parsing specs, the recovery logic and the endpoint client need no transformers (a served-model-only setup)."""
    code = (
        "import sys, r1router; before = set(sys.modules); "
        "import r1router.router.generation, r1router.router.backends, r1router.router.profile; "
        "print(sorted(m for m in set(sys.modules) - before "
        "if m.startswith(('transformers', 'r1router.router.policy', 'r1router.router.hf_generate'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['r1router.router.policy_openai']"
