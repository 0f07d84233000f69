"""Rollouts that read each prompt once: GRPO's group shares its prompt's KV cache.

TRL generates a step's rollouts in one ``generate`` call over the prompts repeated
``num_generations`` times, with the KV cache: the decode steps are batched over the group, but the
prefill of a ~300-token prompt (two exemplar paragraphs + the sentence) is computed once per row,
four times per prompt. ``share_group_prefill`` wraps the model's ``generate``: the distinct prompt
rows are prefilled once (all but their last token, at the positions ``generate`` itself gives
left-padded rows), the cache is gathered back to one row per rollout, and ``generate`` goes on
from there (it computes only the last prompt token, then samples as before: the same random
draws). The logits differ from a full prefill only by float rounding.
"""

from __future__ import annotations

import torch


def share_group_prefill(model) -> None:
    """Install the shared prefill on ``model.generate`` (a peft or transformers causal LM)."""
    generate = model.generate

    def generate_with_shared_prefill(*args, input_ids=None, attention_mask=None, **kwargs):
        if (
            args
            or input_ids is None
            or kwargs.get("cache") is not None
            or kwargs.get("past_key_values") is not None
        ):
            return generate(*args, input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        cache = group_prefill(model, input_ids, attention_mask)
        if cache is None:
            return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return generate(input_ids=input_ids, attention_mask=attention_mask, cache=cache, **kwargs)

    model.generate = generate_with_shared_prefill


@torch.no_grad()
def group_prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
    """A DynamicCache of every row's prompt but its last token, computed once per distinct row
    (None when no row repeats or the prompt is one token)."""
    from transformers import DynamicCache

    if input_ids.shape[1] < 2:
        return None
    mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
    rows = torch.cat([input_ids, mask.to(input_ids.dtype)], dim=1)
    distinct, inverse = torch.unique(rows, dim=0, return_inverse=True)
    if len(distinct) == len(rows):
        return None
    first = torch.stack([(inverse == i).nonzero()[0, 0] for i in range(len(distinct))])
    ids, sub_mask = input_ids[first, :-1], mask[first, :-1]
    positions = (sub_mask.long().cumsum(-1) - 1).masked_fill(sub_mask == 0, 0)  # as generate numbers them
    cache = DynamicCache(config=model.config)
    model(input_ids=ids, attention_mask=sub_mask, position_ids=positions, cache=cache, use_cache=True)
    cache.batch_select_indices(inverse)  # one row per rollout, in the batch's order
    return cache
