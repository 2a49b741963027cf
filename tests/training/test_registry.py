"""The registered router's pyfunc model decides with the profile's loop decision settings (no model loaded here)."""

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from r1router.errors import ConfigError
from r1router.router import backends
from r1router.router.backends import PolicySpec
from r1router.router.generation_config import GenerationConfig
from r1router.router.prompts import format_decision
from r1router.training.registry import RouterModel, predict_config

DECISION = GenerationConfig(max_new_tokens=96, batch_size=16, stop_strings=("</ret>",))  # the demo's


class DecidingPolicy:
    multimodal = False

    def __init__(self):
        self.configs = []

    def generate(self, conversations, config):
        self.configs.append(config)
        return [format_decision("Look it up.", "Who directed Silver Orchard?", "text")] * len(conversations)


def test_predict_generates_with_the_registered_decision_settings(monkeypatch):
    model_config = json.loads(json.dumps(predict_config(DECISION)))  # as MLflow stores and hands it back
    assert model_config["predict_decision"]["stop_strings"] == ["</ret>"] and model_config["predict_device"] == "cpu"
    policy, specs = DecidingPolicy(), []
    monkeypatch.setattr(backends, "load_policy", lambda spec: specs.append(spec) or policy)
    model = RouterModel()
    model.load_context(SimpleNamespace(model_config=model_config, artifacts={"router": "routers/sft"}))
    out = model.predict(None, pd.DataFrame({"question": ["Where was the director of Silver Orchard born?"]}))
    assert specs == [PolicySpec(model="routers/sft", device="cpu")] and policy.configs == [DECISION]
    assert (out["well_formed"][0], out["kb"][0], out["retriever"][0]) == (True, "text", "Text Retriever")


def test_a_model_config_without_decision_settings_is_refused():
    with pytest.raises(ConfigError, match="predict_decision"):
        RouterModel().load_context(SimpleNamespace(model_config={"predict_max_new_tokens": 128}, artifacts={}))
