"""Backend `vllm` against a fake `vllm` module: what reaches the engine, what comes back, and a clear error without it.

CI has no GPU and cannot install vLLM; the fake records the calls the real
`vllm.LLM.chat` would get (messages in the OpenAI shape, SamplingParams).
"""

import sys
import types
from typing import ClassVar

import pytest

from r1router.errors import ConfigError
from r1router.router.backends import load_policy, policy_spec
from r1router.router.generation_config import GenerationConfig
from r1router.router.policy_vllm import VLLMPolicy
from r1router.router.prompts import decompose_messages


class FakeLLM:
    """Records its construction and every chat call; answers each conversation with a scripted text."""

    instances: ClassVar[list["FakeLLM"]] = []

    def __init__(self, **settings):
        self.settings, self.calls = settings, []
        FakeLLM.instances.append(self)

    def chat(self, messages, sampling_params, use_tqdm):
        self.calls.append((messages, sampling_params))
        texts = [
            f"<think>t{i}</think><sub-question>q</sub-question><ret>Text Retriever</ret> tail"
            for i in range(len(messages))
        ]
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=text)]) for text in texts]


@pytest.fixture
def fake_vllm(monkeypatch, tmp_path):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **settings: settings
    monkeypatch.setitem(sys.modules, "vllm", module)
    FakeLLM.instances.clear()
    model = tmp_path / "policy"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "llama"}')
    return model


def test_the_engine_gets_our_settings_and_the_texts_stop_where_ours_do(fake_vllm, monkeypatch):
    from r1router.router import backends

    monkeypatch.setattr(backends, "verify_model_dir", lambda path: None)
    spec = policy_spec({"backend": "vllm", "model": str(fake_vllm), "precision": "bfloat16"}, "m")
    assert spec.local_model == str(fake_vllm)  # its weights decide the outputs: they key the caches
    policy = load_policy(spec)
    assert isinstance(policy, VLLMPolicy) and not policy.multimodal
    [llm] = FakeLLM.instances
    assert llm.settings == {"model": str(fake_vllm), "dtype": "bfloat16", "seed": 0}
    conversations = [decompose_messages("Who directed Lantern?", []), decompose_messages("Where is Dorvik?", [])]
    greedy = GenerationConfig(max_new_tokens=64, stop_strings=("</ret>",), seed=3)
    texts = policy.generate(conversations, greedy)
    assert texts == [f"<think>t{i}</think><sub-question>q</sub-question><ret>Text Retriever</ret>" for i in (0, 1)]
    messages, params = llm.calls[0]
    assert messages[1][1] == {"role": "user", "content": "Origin question: Where is Dorvik?\n"}
    assert params == {
        "max_tokens": 64,
        "temperature": 0.0,
        "seed": 3,
        "stop": ["</ret>"],
        "include_stop_str_in_output": True,
    }
    sampled = GenerationConfig(do_sample=True, temperature=0.7, top_p=0.9, top_k=0)
    policy.generate(conversations[:1], sampled)
    sampling = llm.calls[1][1]
    assert (sampling["temperature"], sampling["top_p"], sampling["top_k"]) == (0.7, 0.9, -1)  # top-k 0: vLLM's -1
    assert policy.generate([], greedy) == [] and len(llm.calls) == 2


def test_without_vllm_the_error_says_what_to_use_instead(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ConfigError, match=r"backend vllm needs the `vllm` package.*use backend openai"):
        VLLMPolicy.load(tmp_path)
    with pytest.raises(ConfigError, match="precision must be one of"):
        VLLMPolicy.load(tmp_path, precision="int4")
