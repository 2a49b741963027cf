"""An encoder's batch size as params give it: a positive int, or "auto" (sized by GPU memory).

Torch-free, so the KB encoder loader and the config checks validate it
without importing a model framework; `r1router.encoders.text` does the sizing.
"""

from __future__ import annotations

from typing import Literal

from r1router.errors import ConfigError

BatchSize = int | Literal["auto"]  # "auto": the text encoder sizes its batches by GPU memory
AUTO_BATCH_SIZE: Literal["auto"] = "auto"
DEFAULT_BATCH_SIZE = 64  # what "auto" means where nothing is sized by memory: CPU throughput is flat beyond it


def check_batch_size(value: object, field: str = "kb.batch_size") -> BatchSize:
    """`value` as a batch size: an int >= 1 or "auto"; a ConfigError naming `field` otherwise.

    `load_encoder` and `TextEncoder` check it before a model loads, so a params typo is reported
    at once. A bool is refused: YAML reads `yes` as True.
    """
    if value == AUTO_BATCH_SIZE:
        return AUTO_BATCH_SIZE
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ConfigError(f"{field} must be an integer >= 1 or {AUTO_BATCH_SIZE!r}, got {value!r}")
