"""Diversified DPO (Chung et al., 2025): DPO whose pairs are weighted by how unusual the chosen answer is.

    L_DDPO = -E[ delta_w * log sigma( beta * ( log p(y_w|x)/p_ref(y_w|x) - log p(y_l|x)/p_ref(y_l|x) ) ) ]

delta_w is the chosen sample's deviation from the prompt's other samples (``deviation``): pairs
whose winner says something the others do not count more, so the policy learns quality without
collapsing onto one safe answer. Plain DPO is the same loss with delta_w = 1.

``DDPOTrainer`` is TRL's ``DPOTrainer`` with a ``weight`` column carried from the dataset to the loss.
TRL's loss has no per-pair hook, so the subclass computes the weighted sigmoid loss itself from the
same pieces TRL uses: the policy's fused-head log-probs and ``compute_ref_log_probs`` (or the
precomputed reference log-probs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from trl import DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

WEIGHT = "weight"


def deviation(embeddings: np.ndarray, chosen: int) -> float:
    """Mean cosine distance of sample ``chosen`` to the other samples of its prompt ([n, d] unit rows)."""
    others = np.delete(embeddings, chosen, axis=0)
    if len(others) == 0:
        return 1.0
    return float(np.mean(1.0 - others @ embeddings[chosen]))


def combined_deviation(semantic: float, style: float) -> float:
    """The DDPO authors combine semantic and style deviation by geometric mean."""
    return float(np.sqrt(max(semantic, 0.0) * max(style, 0.0)))


def normalise_weights(deviations: list[float]) -> list[float]:
    """Scale deviations to mean 1, so DDPO's loss has DPO's scale and the learning rate carries over."""
    mean = float(np.mean(deviations)) if deviations else 0.0
    return [d / mean if mean > 0 else 1.0 for d in deviations]


class WeightedPreferenceCollator(DataCollatorForPreference):
    """TRL's preference collator, plus the per-pair ``weight`` tensor (1.0 where a pair has none)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        batch[WEIGHT] = torch.tensor([float(e.get(WEIGHT, 1.0)) for e in examples])
        return batch


class DDPOTrainer(DPOTrainer):
    """DPO with per-pair weights (``loss_type`` must be the plain ``sigmoid``).

    ``sft_weight`` > 0 adds the chosen answers' mean per-token NLL to the loss (RPO, Pang et al. 2024):
    plain DPO may lower the chosen answer's probability as long as the rejected one falls faster,
    which on small preference sets drives the policy off text altogether.
    """

    def __init__(self, *args, sft_weight: float = 0.0, **kwargs) -> None:
        self.sft_weight = sft_weight
        super().__init__(*args, **kwargs)
        if list(self.loss_types) != ["sigmoid"]:
            raise ValueError(f"DDPO weights the sigmoid DPO loss; got loss_type={self.loss_types}")
        if self.ld_alpha is not None or self.f_divergence_type != "reverse_kl":
            raise ValueError("DDPO is defined for plain DPO: no ld_alpha, reverse KL")
        self.data_collator = WeightedPreferenceCollator(
            pad_token_id=self.data_collator.pad_token_id,
            max_length=self.data_collator.max_length,
            truncation_mode=self.data_collator.truncation_mode,
            pad_to_multiple_of=self.data_collator.pad_to_multiple_of,
        )

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if WEIGHT not in self._signature_columns:
            self._signature_columns.append(WEIGHT)  # else Trainer drops the column before the collator

    def sequence_logps(self, model, inputs: dict[str, Any]) -> torch.Tensor:
        """Sum of the completion tokens' log-probs per sequence, [2B] = chosen then rejected."""
        model_kwargs = {k: inputs[k] for k in ("input_ids", "attention_mask")}
        labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
        log_probs = model(**model_kwargs, labels=labels, use_cache=False, fused_lm_head=True).log_probs
        return log_probs[:, -(inputs["completion_mask"].size(1) - 1) :].sum(dim=1)

    def _compute_loss(self, model, inputs, return_outputs):
        if return_outputs:
            raise NotImplementedError("DDPOTrainer does not return outputs")
        mode = "train" if self.model.training else "eval"
        weight = inputs.pop(WEIGHT).to(self.accelerator.device)
        chosen, rejected = self.sequence_logps(model, inputs).chunk(2, dim=0)
        if self.precompute_ref_logps:
            ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            ref_chosen, ref_rejected = self.compute_ref_log_probs(model, inputs)
        margin = self.beta * ((chosen - ref_chosen) - (rejected - ref_rejected))
        loss = (weight * -F.logsigmoid(margin)).mean()
        self._log_pairs(mode, margin.detach(), weight)
        if self.sft_weight:
            loss = loss + self.sft_weight * self.chosen_nll(chosen, inputs)
        return loss

    def chosen_nll(self, chosen: torch.Tensor, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean per-token NLL of the chosen answers (their share of the batch comes first)."""
        tokens = inputs["completion_mask"][: len(chosen), 1:].sum(dim=1).clamp(min=1)
        nll = (-chosen / tokens).mean()
        self._metrics["train" if self.model.training else "eval"]["ddpo/chosen_nll"].append(nll.item())
        return nll

    def _log_pairs(self, mode: str, margin: torch.Tensor, weight: torch.Tensor) -> None:
        gather = self.accelerator.gather_for_metrics
        self._metrics[mode]["rewards/margins"].append(gather(margin).mean().item())
        self._metrics[mode]["rewards/accuracies"].append(gather((margin > 0).float()).mean().item())
        self._metrics[mode]["ddpo/weight"].append(gather(weight).mean().item())
