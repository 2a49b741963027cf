"""Device and precision choice: what `auto` means, and that a bad precision names its params key."""

import logging

import pytest
import torch

from r1router import device
from r1router.device import cpu_has_bf16, resolve_dtype
from r1router.errors import ConfigError


def test_auto_is_bf16_on_cuda_and_fp32_on_cpu():
    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("auto", "cuda:1") is torch.bfloat16


def test_explicit_precision_wins_on_any_device():
    assert resolve_dtype("float32", "cuda") is torch.float32
    assert resolve_dtype("bfloat16", "cpu") is torch.bfloat16


def test_unknown_precision_names_its_key():
    with pytest.raises(ConfigError, match=r"evaluate\.precision: unknown precision 'fp16'"):
        resolve_dtype("fp16", "cpu", "evaluate.precision")


def test_cpu_bf16_flags_are_read_from_cpuinfo(tmp_path):
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512vl\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n")
    assert cpu_has_bf16(with_bf16) is True
    assert cpu_has_bf16(without) is False
    assert cpu_has_bf16(tmp_path / "missing") is False  # not Linux: assume emulated


def test_bf16_on_a_cpu_without_it_warns_but_is_honoured(monkeypatch, caplog):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="r1router.device"):
        assert resolve_dtype("bfloat16", "cpu", "sft.precision") is torch.bfloat16
    assert "sft.precision" in caplog.text and "emulated" in caplog.text
