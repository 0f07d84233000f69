"""Train the audio projector and an audio LoRA so that the LM transcribes speech.

    audio --Whisper encoder (frozen, CTranslate2)--> states (T, 384)
          --stack K=4, MLP--> soft tokens (T/4, 640)
    loss = NLL(words + EOS | BOS, soft tokens, "Transcript:")   LM frozen + LoRA (q, v); projector trained

Data: held-out-split Austen sentences and the spoken command vocabulary, synthesized with
espeak-ng (several voices and speeds) with white noise at several SNRs. The evaluation
compares WER and command accuracy of this path with Whisper's own decoder on held-out
sentences. The projector (fp16 safetensors), its config and the LoRA (peft format) go to
``assets/<output>/`` and into ``assets/manifest.json``.

    nice -n 10 .venv/bin/python -m training.recipes.audio_projector \\
        --config training/configs/gemma3-270m/audio_projector.yaml --set train.steps=50
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from engine import paths
from engine.audio.commands import match_grammar
from engine.audio.listener import is_command
from engine.audio.projector import PROMPT, AudioProjector, encoder_states, transcribe_with_lm
from engine.audio.recognizer import Recognizer
from engine.audio.synth import add_noise, sentences_for_speech, synthesize, with_silence
from training.config import load_config  # YAML + key.sub=value overrides, shared by all recipes
from training.eval.speech import wer

RECIPE = "training/recipes/audio_projector.py"
COMMAND_PHRASES = [
    "new line", "new paragraph", "scratch that", "undo that", "delete last word", "delete last sentence",
    "delete last paragraph", "select last sentence", "capitalize that", "lowercase that", "rephrase that",
    "continue", "stop listening", "read that back",
]




# ---------------------------------------------------------------- data


def build_items(cfg: dict, rng: random.Random) -> tuple[list[dict], list[dict]]:
    from training.data.corpora import load_corpus, split

    d = cfg["data"]
    paragraphs = [p for ps in load_corpus(d["corpus"]).values() for p in ps]
    sentences = sentences_for_speech(paragraphs, d["min_words"], d["max_words"])
    train_s, eval_s = split(sentences, seed=cfg["seed"], fractions=(0.95, 0.05))
    train_s, eval_s = train_s[: d["train_sentences"]], eval_s[: d["eval_sentences"]]

    def item(text: str, noisy: bool) -> dict:
        return {"text": text, "voice": rng.choice(d["voices"]), "speed": rng.choice(d["speeds"]),
                "snr": rng.choice(d["snr_db"]) if noisy else None, "pitch": rng.randint(35, 65)}

    train = [item(s, True) for s in train_s]
    train += [item(c, True) for c in COMMAND_PHRASES for _ in range(d["command_repeats"])]
    evals = [item(s, False) for s in eval_s] + [item(c, False) for c in COMMAND_PHRASES]
    return train, evals


def featurize(items: list[dict], whisper, cache: Path, desc: str) -> None:
    """Synthesize each clip and store its encoder states (cached on disk by content)."""
    cache.mkdir(parents=True, exist_ok=True)
    for i, it in enumerate(tqdm(items, desc=desc)):
        key = hashlib.sha256(json.dumps(it, sort_keys=True).encode()).hexdigest()[:16]
        path = cache / f"{key}.npz"
        if not path.exists():
            audio = synthesize(it["text"], it["voice"], it["speed"], it["pitch"])
            if it["snr"] is not None:
                audio = add_noise(audio, it["snr"], seed=i)
            audio = with_silence(audio, 0.1, 0.1)
            states = encoder_states(whisper.model, audio).astype(np.float16)
            np.savez(path, states=states, audio=(audio * 32767).astype(np.int16))
        it["path"] = path


# ---------------------------------------------------------------- model


def batch_loss(lm, tok, projector, batch: list[dict], prompt_ids: list[int]) -> torch.Tensor:
    """Right-padded batch of [BOS] soft prompt words EOS; CE on the words and EOS only."""
    embed = lm.get_input_embeddings()
    seqs, targets = [], []
    for it in batch:
        states = torch.from_numpy(np.load(it["path"])["states"].astype(np.float32))
        soft = projector(states)
        words = tok(" " + it["text"], add_special_tokens=False).input_ids + [tok.eos_token_id]
        lead = torch.tensor([tok.bos_token_id] + [])
        parts = [embed(lead), soft.to(embed.weight.dtype), embed(torch.tensor(prompt_ids)), embed(torch.tensor(words))]
        seq = torch.cat(parts)
        start = len(seq) - len(words)
        seqs.append(seq)
        targets.append((start, words))
    width = max(len(s) for s in seqs)
    dim = seqs[0].shape[1]
    inputs = torch.zeros(len(seqs), width, dim, dtype=seqs[0].dtype)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        inputs[i, : len(s)] = s
        mask[i, : len(s)] = 1
    base = lm.get_base_model()
    hidden = base.model(inputs_embeds=inputs, attention_mask=mask).last_hidden_state
    # Logits only where a target is predicted: the 262k-entry output layer dominates the cost.
    rows = torch.cat([hidden[i, start - 1 : start - 1 + len(w)] for i, (start, w) in enumerate(targets)])
    labels = torch.tensor([t for _, w in targets for t in w])
    logits = base.lm_head(rows).float()
    return F.cross_entropy(logits, labels)


def evaluate(lm, tok, projector, whisper: Recognizer, evals: list[dict]) -> dict:
    lm.eval()
    prose = [it for it in evals if it["text"] not in COMMAND_PHRASES]
    cmds = [it for it in evals if it["text"] in COMMAND_PHRASES]
    out: dict = {}
    for name, fn in (
        ("projector", lambda it: transcribe_with_lm(lm, tok, projector, np.load(it["path"])["states"].astype(np.float32))),
        ("whisper", lambda it: whisper.transcribe(np.load(it["path"])["audio"].astype(np.float32) / 32767,
                                                  is_command=is_command).text),
    ):
        t0 = time.perf_counter()
        hyp_prose = [fn(it) for it in tqdm(prose, desc=f"eval {name}")]
        hyp_cmds = [fn(it) for it in cmds]
        out[name] = {
            "wer": round(wer([it["text"] for it in prose], hyp_prose), 4),
            "command_accuracy": round(
                sum(match_grammar(h) == match_grammar(it["text"]) for it, h in zip(cmds, hyp_cmds, strict=True))
                / max(1, len(cmds)), 4),
            "seconds_per_clip": round((time.perf_counter() - t0) / max(1, len(prose) + len(cmds)), 3),
            "examples": [(it["text"], h) for it, h in list(zip(prose, hyp_prose, strict=True))[:5]],
        }
    lm.train()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="training/configs/gemma3-270m/audio_projector.yaml")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.set)
    torch.manual_seed(cfg["seed"])
    rng = random.Random(cfg["seed"])
    torch.set_num_threads(cfg["num_threads"])

    from peft import LoraConfig, get_peft_model

    from engine.models import load_model

    whisper = Recognizer(cfg["whisper"], cpu_threads=cfg["num_threads"])
    train, evals = build_items(cfg, rng)
    cache = paths.cache_dir() / "audio_projector" / cfg["whisper"]
    featurize(train, whisper, cache, "train clips")
    featurize(evals, whisper, cache, "eval clips")

    loaded = load_model(cfg["base_model"])
    tok = loaded.tokenizer
    base = loaded.model
    for p in base.parameters():
        p.requires_grad_(False)
    lcfg = cfg["lora"]
    lm = get_peft_model(base, LoraConfig(r=lcfg["r"], lora_alpha=lcfg["alpha"], lora_dropout=lcfg["dropout"],
                                         target_modules=lcfg["target_modules"], task_type="CAUSAL_LM"))
    enc_dim = np.load(train[0]["path"])["states"].shape[1]
    lm_dim = base.get_input_embeddings().weight.shape[1]
    pcfg = cfg["projector"]
    projector = AudioProjector(enc_dim, lm_dim, pcfg["stack"], pcfg["hidden"])
    prompt_ids = tok(PROMPT, add_special_tokens=False).input_ids

    t = cfg["train"]
    lora_params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([
        {"params": projector.parameters(), "lr": t["lr_projector"]},
        {"params": lora_params, "lr": t["lr_lora"]},
    ], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / t["warmup_steps"]) * max(0.1, 1 - s / t["steps"]))
    lm.train()
    ema, t0 = None, time.time()
    bar = tqdm(range(t["steps"]), desc="train")
    for step in bar:
        batch = rng.sample(train, t["batch_size"])
        loss = batch_loss(lm, tok, projector, batch, prompt_ids)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(projector.parameters()) + lora_params, t["grad_clip"])
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step % t["log_every"] == 0:
            bar.set_postfix(loss=f"{ema:.3f}")
    train_seconds = time.time() - t0

    metrics = evaluate(lm, tok, projector, whisper, evals)
    metrics.update({"steps": t["steps"], "train_loss_ema": round(ema, 4), "train_seconds": round(train_seconds)})
    print(json.dumps(metrics, indent=2))

    out_dir = paths.repo_assets_dir() / cfg["output"]
    out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    save_file({k: v.half().contiguous() for k, v in projector.state_dict().items()}, out_dir / "projector.safetensors")
    (out_dir / "projector.json").write_text(json.dumps(
        {"encoder": cfg["whisper"], "encoder_dim": enc_dim, "lm_dim": lm_dim, "stack": pcfg["stack"],
         "hidden": pcfg["hidden"], "prompt": PROMPT}, indent=2))
    lm.save_pretrained(out_dir / "lora")
    try:
        from engine.manifest import register_artifact
    except ImportError:
        return
    register_artifact(
        cfg["artifact_name"], "audio_projector", [out_dir], base_model=cfg["base_model"],
        base_sha256=loaded.info.source_sha256, recipe=RECIPE, config=args.config,
        data=f"espeak-ng speech of {len(train)} clips: {cfg['data']['corpus']} sentences (training/data/corpora.py) "
             f"+ the command vocabulary; voices {cfg['data']['voices']}, speeds {cfg['data']['speeds']}, "
             f"SNR {cfg['data']['snr_db']} dB",
        metrics={k: v for k, v in metrics.items() if k not in ("projector", "whisper")} | {
            "wer_projector": metrics["projector"]["wer"], "wer_whisper": metrics["whisper"]["wer"],
            "command_accuracy_projector": metrics["projector"]["command_accuracy"],
            "command_accuracy_whisper": metrics["whisper"]["command_accuracy"]},
        extra={"default_decoder": "whisper", "encoder": cfg["whisper"]},
    )


if __name__ == "__main__":
    main()
