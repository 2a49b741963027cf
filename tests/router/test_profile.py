"""`profiles.<profile>.router`: one router configuration per profile, read by one function."""

from pathlib import Path

import pytest
import yaml

from r1router.errors import ConfigError
from r1router.router.generation import RecoveryConfig
from r1router.router.generation_config import GenerationConfig
from r1router.router.profile import parse_router_config, router_config

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.mark.parametrize("profile", ["smoke", "demo", "paper"])
def test_every_profile_has_a_router_section_and_evaluate_keeps_none_of_its_keys(profile):
    sections = yaml.safe_load(PARAMS.read_text())["profiles"][profile]
    parse_router_config(sections["router"], f"{profile}.router")
    assert not {"loop", "device", "precision"} & set(sections["evaluate"])
    for stage in ("sft", "grpo"):  # held-out checks and registered models generate with router.loop.decision
        assert set(sections[stage]["heldout"]) == {"max_rows"} and set(sections[stage]["registry"]) == {"name"}


def test_the_demo_router_is_what_the_demo_evaluation_has_always_run():
    """The values the committed demo predictions were generated with (then params.yaml `evaluate.loop`)."""
    demo = parse_router_config(yaml.safe_load(PARAMS.read_text())["profiles"]["demo"]["router"])
    assert (demo.device, demo.precision) == ("auto", "bfloat16")
    loop = demo.loop
    assert (loop.max_steps, loop.k, loop.all_kbs_k, loop.few_shot) == (3, 5, 2, False)
    assert loop.decision == GenerationConfig(max_new_tokens=96, batch_size=16, stop_strings=("</ret>",))
    assert loop.answer == GenerationConfig(max_new_tokens=48, batch_size=16, stop_strings=("</answer>",))
    assert loop.recovery == RecoveryConfig(retries=0, corrective_turn=False, retry_temperature=0.7)


def test_router_config_reads_the_active_profile(tmp_path):
    params = tmp_path / "params.yaml"
    loop = {"max_steps": 2, "decision": {"max_new_tokens": 8}}
    params.write_text(yaml.safe_dump({"profile": "p", "profiles": {"p": {"router": {"device": "cpu", "loop": loop}}}}))
    config = router_config(params)
    assert (config.device, config.precision, config.retrieval_service) == ("cpu", "auto", None)
    assert (config.loop.max_steps, config.loop.decision.max_new_tokens) == (2, 8)
    served = parse_router_config({"retrieval_service": "http://127.0.0.1:8600"})
    assert served.retrieval_service == "http://127.0.0.1:8600"
    assert config.policy_spec("models/policy", "m").device == "cpu"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"dtype": "bf16"}, r"params.yaml router: unknown keys \['dtype'\]"),
        ({"loop": {"max_step": 3}}, r"params.yaml router.loop: unknown keys \['max_step'\]"),
        ({"loop": {"decision": {"batch_size": 0}}}, r"params.yaml router.loop.decision: .*batch_size"),
    ],
)
def test_a_bad_router_section_is_a_config_error_naming_its_key(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_router_config(section)
