"""Switching a stage's engine keeps its Prefect cache: every engine writes the same bytes."""

from __future__ import annotations

import pytest
from prefect.cache_policies import Inputs

from tasks.corpus import corpus_build_task
from tasks.kb import build_kb_task


@pytest.mark.parametrize("task", [build_kb_task, corpus_build_task])
def test_the_engine_is_not_part_of_the_cache_key(task):
    (inputs,) = [policy for policy in task.cache_policy.policies if isinstance(policy, Inputs)]
    key = {"data": "abc", "code": "def"}

    def key_with(distributed):
        return inputs.compute_key(None, {**key, "distributed": distributed}, {})

    assert key_with(None) == key_with({"engine": "ray", "address": "auto", "workers": 8})
    assert inputs.compute_key(None, {**key, "data": "other"}, {}) != key_with(None)
