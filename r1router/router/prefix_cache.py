"""Shared-prefix KV cache: prefill what a batch's prompts have in common once, generate only what differs.

Why: on CPU, prefill is compute-bound, and the router's prompts are mostly
fixed text. A decomposition prompt is ~450 tokens, of which ~430 are the
system prompt; a prompt-only base model adds ~500 tokens of few-shot turns per
family. Batching alone amortises only the decode steps. So the messages before
the last one (system prompt, few-shot turns) are prefilled once at batch 1,
their keys/values are expanded over the batch, and only each row's last
message is prefilled per row. An LRU keeps the prefixes across calls, because
every step of the loop re-sends the same system prompt.

Layout. Row i of a batch is `[prefix][pads][suffix_i]` with attention mask 0
on the pads, not the usual left padding `[pads][prefix][suffix_i]`: the
prefix's keys/values are computed once and must sit in the same cache slots in
every row. transformers 5.23 `generate` (read in `generation/utils.py` and
`masking_utils.py`) then
- slices `input_ids` to the tokens after the cache (`_prefill`: the full
  sequence was passed, so `input_ids[:, cache_length:]` is prefilled),
- derives `position_ids` from the attention mask (`cumsum - 1` in
  `_prepare_position_ids_for_generation`; there is no `cache_position` any
  more), so every suffix starts at position `len(prefix)` whatever its
  padding, exactly as in a left-padded row,
- sizes the causal mask as cache length + new tokens and masks the pads with
  the 2-D mask (`create_causal_mask`).
Each row thus sees the same tokens at the same positions as on the plain path;
`tests/router/test_prefix_cache.py` checks logits and greedy outputs against
it on SmolLM2.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (keys, values), each [1, kv_heads, prefix_len, head_dim]
TokenIds = tuple[int, ...]


def supports_prefix_cache(model: Any) -> bool:
    """True for decoder-only models whose every layer keeps plain full-attention keys/values.

    A sliding-window, chunked or linear-attention layer stores something other
    than one key/value per past token, so an expanded prefix would not be what
    the plain path computes; such models (and vision-language ones, which do
    not use this module) take the plain path.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    if getattr(model.config, "is_encoder_decoder", False):
        return False
    if "position_ids" not in inspect.signature(model.forward).parameters:
        return False  # positions would be counted over the pads
    layers = DynamicCache(config=model.config).layers
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def weights_version(model: Any) -> tuple[Any, ...]:
    """Changes whenever a parameter is modified in place (an optimizer step, `load_state_dict`) or moved.

    torch bumps a tensor's version counter on every in-place operation; a
    prefix prefilled with older weights must not be reused by RL rollouts.
    """
    parameters = list(model.parameters())
    first = parameters[0]
    return (str(first.device), first.dtype, sum(p._version for p in parameters))


def shared_prefix_length(ids: Sequence[int], context: Sequence[int]) -> int:
    """How many leading tokens of `ids` equal `context`'s, keeping at least one token to prefill per row."""
    length = 0
    for a, b in zip(ids, context, strict=False):
        if a != b:
            break
        length += 1
    return min(length, len(ids) - 1)


class PrefixCache:
    """LRU of prefilled prefixes keyed on their token ids, for one model."""

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise ValueError(f"prefix cache capacity must be >= 1 (got {capacity})")
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[TokenIds, KV] = OrderedDict()
        self._version: tuple[Any, ...] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every prefix; call it after changing what the model computes without touching its weights
        (e.g. switching a PEFT adapter)."""
        self._entries.clear()

    def get(self, model: Any, prefix: TokenIds) -> KV:
        """The prefix's keys/values: from the cache, or prefilled now at batch 1 (inside the caller's no-grad mode)."""
        version = weights_version(model)
        if version != self._version:
            self.clear()
            self._version = version
        if prefix in self._entries:
            self.hits += 1
            self._entries.move_to_end(prefix)
            return self._entries[prefix]
        self.misses += 1
        kv = prefill(model, prefix)
        self._entries[prefix] = kv
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return kv


def prefill(model: Any, prefix: TokenIds) -> KV:
    """Run the prefix once and keep its per-layer keys/values (no logits beyond the last position)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    ids = torch.tensor([prefix], device=model.device)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    model(input_ids=ids, attention_mask=torch.ones_like(ids), past_key_values=cache, use_cache=True, **extra)
    return [(layer.keys, layer.values) for layer in cache.layers]


def prefix_inputs(model: Any, prefix: TokenIds, kv: KV, suffixes: list[list[int]], pad_token_id: int) -> dict[str, Any]:
    """`generate` inputs for rows `[prefix][pads][suffix]`: full ids, their mask, and the prefix cache over the batch.

    The cache is a fresh `DynamicCache` per batch (generate appends to it);
    its layers start from expanded views, which the first append copies.
    """
    from transformers import DynamicCache

    batch, width = len(suffixes), max(len(s) for s in suffixes)
    input_ids = torch.full((batch, len(prefix) + width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    input_ids[:, : len(prefix)] = torch.tensor(prefix)
    attention_mask[:, : len(prefix)] = 1
    for row, suffix in enumerate(suffixes):
        input_ids[row, input_ids.shape[1] - len(suffix) :] = torch.tensor(suffix)
        attention_mask[row, input_ids.shape[1] - len(suffix) :] = 1
    expanded = [(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1)) for keys, values in kv]
    cache = DynamicCache(expanded, config=model.config)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "past_key_values": cache}


def length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Items in batches of similar length, longest first (a batch that does not fit in memory fails at once)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def plan_batches(ids: list[list[int]], prefix_lengths: list[int], batch_size: int) -> tuple[list[list[int]], list[int]]:
    """Batches over items `0..n-1`, and the prefix length each item is generated with (0: the plain path).

    A prefix pays off when several items of the call share it (prefilled once
    for all) or when the call has a single item (one question at a time: the
    LRU serves the next call). Other items, and those with no prefix, are
    batched together on the plain path. The items of a batch share their
    prefix. The plan depends on the call's inputs alone, never on what the LRU
    holds, so a seeded sampling call gives the same texts whatever ran before.
    """
    groups: dict[TokenIds, list[int]] = {}
    for i, length in enumerate(prefix_lengths):
        if length > 0:
            groups.setdefault(tuple(ids[i][:length]), []).append(i)
    shared = [members for members in groups.values() if len(members) > 1 or len(ids) == 1]
    used = [0] * len(ids)
    for members in shared:
        for i in members:
            used[i] = prefix_lengths[i]
    plain = [i for i in range(len(ids)) if used[i] == 0]
    batches = [
        [members[j] for j in batch]
        for members in [*shared, plain]
        for batch in length_batches([len(ids[i]) for i in members], batch_size)
    ]
    return sorted(batches, key=lambda batch: -max(len(ids[i]) for i in batch)), used
