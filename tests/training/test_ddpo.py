"""DDPO (training/ddpo.py): TRL's DPOTrainer with a per-pair weight, on a tiny model."""

import numpy as np
import pytest
import torch

from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.ddpo import WEIGHT, combined_deviation, deviation, normalise_weights

PAIRS = [
    {"prompt": "w1 w2 w3", "chosen": " w4 w5", "rejected": " w9 w9 w9"},
    {"prompt": "w7 w8", "chosen": " w10", "rejected": " w11 w12"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return folder


def _trainer(folder, out, weights, max_steps=1, sft_weight=0.0):
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig

    from training.ddpo import DDPOTrainer

    torch.manual_seed(0)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(folder), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")
    )
    rows = [dict(p, **{WEIGHT: w}) for p, w in zip(PAIRS, weights, strict=True)]
    args = DPOConfig(
        output_dir=str(out), max_steps=max_steps, per_device_train_batch_size=2, learning_rate=1e-2,
        beta=0.5, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, dataloader_num_workers=0,
        bf16=False,  # TRL computes the reference under autocast: fp32 keeps the comparison exact
    )
    tok = AutoTokenizer.from_pretrained(folder)
    trainer = DDPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, sft_weight=sft_weight
    )
    with torch.no_grad():  # as if trained a while: the policy ("default") moves away from its frozen "ref" copy
        for name, param in model.named_parameters():
            if "lora_B.default" in name:
                param.normal_(0.0, 0.2)
    return trainer


def _reference_losses(trainer):
    """Per-pair -log sigma(beta * margin) from plain HF forwards.

    TRL keeps a frozen copy of a wrapped model's adapter as the reference (p_SFT): adapter "ref".
    """
    from trl.trainer.utils import use_adapter

    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])
    model = trainer.model

    with torch.no_grad():
        policy = _sequence_logps(model, batch)
        with use_adapter(model, "ref"):
            ref = _sequence_logps(model, batch)
    c, r = (policy - ref).chunk(2)
    return -torch.nn.functional.logsigmoid(trainer.beta * (c - r)), batch


def _sequence_logps(model, batch):
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    logps = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (logps * batch["completion_mask"][:, 1:]).sum(1)


def test_the_ddpo_weight_scales_each_pairs_dpo_loss(tiny, tmp_path):
    trainer = _trainer(tiny, tmp_path, weights=[2.0, 0.5])
    per_pair, batch = _reference_losses(trainer)
    assert per_pair[0] != pytest.approx(per_pair[1].item())
    with torch.no_grad():
        loss = trainer._compute_loss(trainer.model, dict(batch), return_outputs=False)
    assert batch[WEIGHT].tolist() == [2.0, 0.5]
    assert loss.item() == pytest.approx(((2.0 * per_pair[0] + 0.5 * per_pair[1]) / 2).item(), rel=1e-4)


def test_the_sft_weight_adds_the_chosen_sides_mean_token_nll(tiny, tmp_path):
    plain = _trainer(tiny, tmp_path / "plain", weights=[1.0, 1.0])
    per_pair, batch = _reference_losses(plain)
    rpo = _trainer(tiny, tmp_path / "rpo", weights=[1.0, 1.0], sft_weight=0.7)
    with torch.no_grad():
        chosen = _sequence_logps(rpo.model, batch).chunk(2)[0]
        loss = rpo._compute_loss(rpo.model, dict(batch), return_outputs=False)
    tokens = batch["completion_mask"][:2, 1:].sum(1)
    assert tokens.tolist() == [3, 2]  # " w4 w5" and " w10" + EOS: the NLL is per token, not per answer
    nll = (-chosen / tokens).mean()
    assert loss.item() == pytest.approx((per_pair.mean() + 0.7 * nll).item(), rel=1e-4)
    assert loss.item() > per_pair.mean().item() + 0.1


def test_ddpo_trains_and_raises_the_chosen_sides_margin(tiny, tmp_path):
    trainer = _trainer(tiny, tmp_path, weights=[1.0, 1.0], max_steps=8)
    before, _ = _reference_losses(trainer)
    trainer.train()
    after, _ = _reference_losses(trainer)
    assert after.mean() < before.mean()
    logged = [h for h in trainer.state.log_history if "ddpo/weight" in h]
    assert logged and logged[0]["ddpo/weight"] == pytest.approx(1.0)


def test_deviation_weights():
    unit = np.eye(3)
    assert deviation(unit, 0) == pytest.approx(1.0)  # orthogonal to every other sample
    same = np.ones((3, 2)) / np.sqrt(2)
    assert deviation(same, 1) == pytest.approx(0.0)
    assert combined_deviation(0.25, 0.64) == pytest.approx(0.4)
    assert normalise_weights([1.0, 3.0]) == [0.5, 1.5]
