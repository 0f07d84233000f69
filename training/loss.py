"""Completion-only causal-LM loss that runs the output layer only where there are labels.

Gemma 3 270M's output layer has 262k rows: on a 300-token prompt with a
20-token completion, computing logits for every position costs more than the
rest of the model. Here the decoder body runs on every position, and the head
only on the positions whose next token is a completion token.

    input_ids [B, T] --body--> hidden [B, T, H] --(positions with labels)--> head --> CE

Optional persona soft tokens [B, k, H] go right after BOS, as
``engine.generation`` feeds them at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def causal_lm_parts(model) -> tuple[nn.Module, nn.Module, float | None]:
    """(decoder body, output layer, final logit soft-cap) of a (peft-wrapped) HF causal LM."""
    inner = model
    if hasattr(inner, "get_base_model"):  # PeftModel
        inner = inner.get_base_model()
    body = inner.model if hasattr(inner, "model") else inner.base_model
    config = inner.config.get_text_config() if hasattr(inner.config, "get_text_config") else inner.config
    return body, inner.lm_head, getattr(config, "final_logit_softcapping", None)


class CompletionLM(nn.Module):
    """Wraps a peft model so that Trainer (and DDP) call one forward that returns the completion loss."""

    def __init__(self, peft_model) -> None:
        super().__init__()
        self.peft_model = peft_model
        self.body, self.head, self.softcap = causal_lm_parts(peft_model)

    def forward(self, input_ids, attention_mask, labels, soft_tokens: torch.Tensor | None = None):
        hidden, labels = self.hidden_states(input_ids, attention_mask, labels, soft_tokens)
        return self.completion_loss(hidden, labels)

    def hidden_states(self, input_ids, attention_mask, labels, soft_tokens: torch.Tensor | None = None):
        """Final hidden states [B, T(+k), H] and the labels aligned with them (soft tokens unlabelled)."""
        if soft_tokens is not None:
            embeds = self.body.get_input_embeddings()(input_ids)
            # [B, 1, H] BOS + [B, k, H] soft + [B, T-1, H] rest
            embeds = torch.cat([embeds[:, :1], soft_tokens.to(embeds.dtype), embeds[:, 1:]], dim=1)
            k = soft_tokens.shape[1]
            attention_mask = torch.cat([attention_mask[:, :1].expand(-1, k), attention_mask], dim=1)
            labels = torch.cat([torch.full_like(labels[:, :k], -100), labels], dim=1)
            return self.body(inputs_embeds=embeds, attention_mask=attention_mask).last_hidden_state, labels
        return self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, labels

    def completion_loss(self, hidden: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        target = labels[:, 1:]
        mask = target != -100
        logits = self.head(hidden[:, :-1][mask])  # [N, vocab] for the N labelled positions only
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        loss = F.cross_entropy(logits.float(), target[mask])
        return {"loss": loss, "tokens": mask.sum()}


def pad_batch(rows: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token rows {input_ids, labels} to one batch with an attention mask."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r["labels"])
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if rows and "soft_tokens" in rows[0]:
        batch["soft_tokens"] = torch.stack([torch.as_tensor(r["soft_tokens"]) for r in rows])
    if rows and "sfr_target" in rows[0]:  # training.sfr: the completion's sentence embedding [B, 384]
        batch["sfr_target"] = torch.stack([torch.as_tensor(r["sfr_target"]) for r in rows])
    return batch


def tokenize_example(
    tokenizer, prompt: str, completion: str, max_prompt_tokens: int, max_completion_tokens: int
) -> dict[str, list[int]]:
    """Prompt tokenized as the engine does (``tokenizer(prompt)``, with BOS), completion appended.

    A long prompt keeps BOS and its last tokens (the engine also keeps the text
    nearest the cursor); a long completion is cut at the end.
    """
    p = tokenizer(prompt)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"][:max_completion_tokens]
    if len(p) > max_prompt_tokens:
        bos = p[:1] if p and p[0] == tokenizer.bos_token_id else []
        p = bos + p[len(p) - (max_prompt_tokens - len(bos)) :]
    return {"input_ids": p + c, "labels": [-100] * len(p) + c}


@torch.no_grad()
def mean_completion_nll(wrapper: CompletionLM, rows: list[dict], pad_id: int, batch_size: int = 8) -> float:
    """Token-weighted mean NLL of the completions (nats/token)."""
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        out = wrapper(**pad_batch(rows[i : i + batch_size], pad_id))
        total += float(out["loss"]) * int(out["tokens"])
        count += int(out["tokens"])
    return total / max(count, 1)
