"""Train the audio projector and an audio LoRA so that the LM transcribes speech.

    audio --Whisper encoder (frozen, CTranslate2)--> states (T, 384)
          --stack K=4, MLP--> soft tokens (T/4, 640)
    loss = NLL(words + EOS | BOS, soft tokens, "Transcript:")   LM frozen + LoRA (q, v); projector trained

Data: held-out-split Austen sentences and the spoken command vocabulary, synthesized with
espeak-ng (several voices and speeds) with white noise at several SNRs. The evaluation
compares WER and command accuracy of this path with Whisper's own decoder on held-out
sentences. The projector (fp16 safetensors), its config and the LoRA (peft format) go to
``output.dir`` and into ``assets/manifest.json``. Stages (AudioProjectorRecipe): setup (seeds,
threads, Whisper) -> data (clips synthesized and encoded, cached) -> model (frozen LM + LoRA,
projector) -> train -> evaluate (WER and command accuracy vs Whisper) -> ship.

    nice -n 10 .venv/bin/python -m training.recipes.audio_projector \\
        --config training/configs/gemma3-270m/audio_projector.yaml train.max_steps=50
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
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
from training.config import (
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    section,
)
from training.eval.speech import wer
from training.recipe import Recipe
from training.runner import LoopRun, RandomState, RunnerConfig, TrainableParameters, cooperate

RECIPE = "training/recipes/audio_projector.py"
COMMAND_PHRASES = [
    "new line",
    "new paragraph",
    "scratch that",
    "undo that",
    "delete last word",
    "delete last sentence",
    "delete last paragraph",
    "select last sentence",
    "capitalize that",
    "lowercase that",
    "rephrase that",
    "continue",
    "stop listening",
    "read that back",
]


# ---------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class AudioData:
    corpus: str = option("austen", help="corpus (training.data.corpora) whose sentences are spoken")
    train_sentences: int = option(300, help="training sentences (the commands are added to them)")
    eval_sentences: int = option(20, help="held-out sentences (every command is evaluated as well)")
    min_words: int = option(4, help="shortest sentence spoken")
    max_words: int = option(12, help="longest sentence spoken")
    voices: list[str] = option(["en-us", "en-gb"], help="espeak-ng voices, one drawn per clip")
    speeds: list[int] = option([150], help="espeak-ng words per minute, one drawn per clip")
    snr_db: list[int] = option(
        [40, 25, 15], help="white noise added to each training clip at one of these SNRs"
    )
    command_repeats: int = option(4, help="each grammar command spoken this many times (voices/speeds vary)")


@dataclass(frozen=True, kw_only=True)
class AudioProjectorShape:
    stack: int = option(4, help="encoder frames stacked into one soft token")
    hidden: int = option(1024, help="hidden width of the projector's MLP")


@dataclass(frozen=True, kw_only=True)
class AudioTrain(TrainConfig):
    lr_projector: float = option(1e-3, help="peak learning rate of the projector (train.lr is the LoRA's)")


@dataclass(frozen=True, kw_only=True)
class AudioProjectorConfig(RecipeConfig):
    whisper: str = option("tiny.en", help="Whisper model whose encoder (frozen, CTranslate2) hears the audio")
    data: AudioData = section(AudioData, "the synthesized clips")
    projector: AudioProjectorShape = section(AudioProjectorShape, "the projector's shape")
    lora: LoraAdapterConfig = section(
        LoraAdapterConfig, "the LoRA on the frozen LM that learns to transcribe"
    )
    train: AudioTrain = section(AudioTrain, "optimisation")
    output: OutputConfig = section(OutputConfig, "the projector + LoRA folder and manifest entry")
    runner: RunnerConfig = section(
        RunnerConfig, "checkpoints, resume and niceness of a long run (training/runner.py)"
    )


# ---------------------------------------------------------------- data


def build_items(d: AudioData, seed: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Training and held-out clips to synthesize: sentence or command, voice, speed, noise, pitch."""
    from training.data.corpora import assert_trainable, load_corpus, split

    assert_trainable([d.corpus])  # held-out writers are never spoken into the training clips
    paragraphs = [p for ps in load_corpus(d.corpus).values() for p in ps]
    sentences = sentences_for_speech(paragraphs, d.min_words, d.max_words)
    train_s, eval_s = split(sentences, seed=seed, fractions=(0.95, 0.05))
    train_s, eval_s = train_s[: d.train_sentences], eval_s[: d.eval_sentences]

    def item(text: str, noisy: bool) -> dict:
        return {
            "text": text,
            "voice": rng.choice(d.voices),
            "speed": rng.choice(d.speeds),
            "snr": rng.choice(d.snr_db) if noisy else None,
            "pitch": rng.randint(35, 65),
        }

    train = [item(s, True) for s in train_s]
    train += [item(c, True) for c in COMMAND_PHRASES for _ in range(d.command_repeats)]
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
        parts = [
            embed(lead),
            soft.to(embed.weight.dtype),
            embed(torch.tensor(prompt_ids)),
            embed(torch.tensor(words)),
        ]
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
        (
            "projector",
            lambda it: transcribe_with_lm(
                lm, tok, projector, np.load(it["path"])["states"].astype(np.float32)
            ),
        ),
        (
            "whisper",
            lambda it: (
                whisper.transcribe(
                    np.load(it["path"])["audio"].astype(np.float32) / 32767, is_command=is_command
                ).text
            ),
        ),
    ):
        t0 = time.perf_counter()
        hyp_prose = [fn(it) for it in tqdm(prose, desc=f"eval {name}")]
        hyp_cmds = [fn(it) for it in cmds]
        out[name] = {
            "wer": round(wer([it["text"] for it in prose], hyp_prose), 4),
            "command_accuracy": round(
                sum(
                    match_grammar(h) == match_grammar(it["text"])
                    for it, h in zip(cmds, hyp_cmds, strict=True)
                )
                / max(1, len(cmds)),
                4,
            ),
            "seconds_per_clip": round((time.perf_counter() - t0) / max(1, len(prose) + len(cmds)), 3),
            "examples": [(it["text"], h) for it, h in list(zip(prose, hyp_prose, strict=True))[:5]],
        }
    lm.train()
    return out


# ---------------------------------------------------------------- the recipe


class AudioProjectorRecipe(Recipe):
    """One audio run, stage by stage; each stage reads what the earlier ones left on ``self``."""

    config_class = AudioProjectorConfig
    cfg: AudioProjectorConfig
    default_config = "training/configs/gemma3-270m/audio_projector.yaml"

    # -- setup: seeds, threads, the Whisper recognizer (its encoder makes the features, its decoder is the bar)

    def setup(self) -> None:
        t = self.cfg.train
        super().setup()
        cooperate(self.cfg.runner.nice, t.threads)
        self.rng = random.Random(t.seed)
        self.whisper = Recognizer(self.cfg.whisper, cpu_threads=t.threads)

    # -- data: clips synthesized with espeak-ng and encoded by Whisper (cached on disk)

    def data(self) -> None:
        self.train_items, self.eval_items = build_items(self.cfg.data, self.cfg.train.seed, self.rng)
        cache = paths.cache_dir() / "audio_projector" / self.cfg.whisper
        featurize(self.train_items, self.whisper, cache, "train clips")
        featurize(self.eval_items, self.whisper, cache, "eval clips")

    # -- model: frozen LM + LoRA, the projector from encoder states to LM embeddings

    def model(self) -> None:
        from peft import get_peft_model

        from engine.models import load_model
        from training.lora import lora_config

        self.loaded = load_model(self.cfg.base)
        base = self.loaded.model
        for p in base.parameters():
            p.requires_grad_(False)
        spec = self.cfg.lora
        self.lm = get_peft_model(base, lora_config(spec.r, spec.alpha, spec.dropout, spec.target_modules))
        self.enc_dim = np.load(self.train_items[0]["path"])["states"].shape[1]
        self.lm_dim = base.get_input_embeddings().weight.shape[1]
        shape = self.cfg.projector
        self.projector = AudioProjector(self.enc_dim, self.lm_dim, shape.stack, shape.hidden)

    # -- train: AdamW on projector + LoRA, linear warmup then linear decay to 10%

    def train(self) -> None:
        t, lm, projector, tok = self.cfg.train, self.lm, self.projector, self.loaded.tokenizer
        prompt_ids = tok(PROMPT, add_special_tokens=False).input_ids
        lora_params = [p for p in lm.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(
            [
                {"params": projector.parameters(), "lr": t.lr_projector},
                {"params": lora_params, "lr": t.lr},
            ],
            weight_decay=0.0,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / t.warmup_steps) * max(0.1, 1 - s / t.max_steps)
        )
        # The runner (training/runner.py) checkpoints the projector, optimizer, schedule, RNG states, the
        # LoRA and the batch sampler's state with accelerate's save_state, and resumes from them.
        run = LoopRun(self.cfg, RECIPE, self.loaded.info.source_sha256)
        projector, opt, sched = run.prepare(projector, opt, sched)
        run.register(TrainableParameters(lm), RandomState(self.rng))
        lm.train()
        ema, t0 = None, time.time()
        start = run.start()
        self.paused_at = None
        bar = tqdm(range(start, t.max_steps), desc="train", initial=start, total=t.max_steps)
        for step in bar:
            batch = self.rng.sample(self.train_items, t.batch_size)
            loss = batch_loss(lm, tok, projector, batch, prompt_ids)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(projector.parameters()) + lora_params, t.grad_clip)
            opt.step()
            sched.step()
            ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
            if step % t.log_every == 0:
                bar.set_postfix(loss=f"{ema:.3f}")
            if run.step_end(step + 1, ema):
                self.paused_at = step + 1  # runner.stop_after: resumed later with runner.resume=true
                break
        self.train_loss_ema, self.train_seconds = ema, time.time() - t0

    # -- evaluate: WER and command accuracy of this path and of Whisper's own decoder, held-out clips

    def evaluate(self) -> dict:
        if self.paused_at is not None:
            return {"paused_at": self.paused_at, "train_loss_ema": self.train_loss_ema}
        metrics = evaluate(self.lm, self.loaded.tokenizer, self.projector, self.whisper, self.eval_items)
        metrics.update(
            {
                "steps": self.cfg.train.max_steps,
                "train_loss_ema": round(self.train_loss_ema, 4),
                "train_seconds": round(self.train_seconds),
            }
        )
        print(json.dumps(metrics, indent=2))
        return metrics

    # -- ship: projector weights + json, the LoRA (peft format), manifest entry

    def ship(self, metrics: dict) -> None:
        from safetensors.torch import save_file

        from engine.manifest import register_artifact
        from training.data.corpora import corpus_sources

        cfg, out, shape = self.cfg, self.cfg.output, self.cfg.projector
        if self.paused_at is not None:  # nothing shipped before the run reaches train.max_steps
            print(json.dumps({"paused": out.name, **metrics}), flush=True)
            return
        out.path.mkdir(parents=True, exist_ok=True)
        dtype = getattr(torch, out.dtype)
        save_file(
            {k: v.to(dtype).contiguous() for k, v in self.projector.state_dict().items()},
            out.path / "projector.safetensors",
        )
        (out.path / "projector.json").write_text(
            json.dumps(
                {
                    "encoder": cfg.whisper,
                    "encoder_dim": self.enc_dim,
                    "lm_dim": self.lm_dim,
                    "stack": shape.stack,
                    "hidden": shape.hidden,
                    "prompt": PROMPT,
                },
                indent=2,
            )
        )
        self.lm.save_pretrained(out.path / "lora")
        if not out.register:
            return
        d = cfg.data
        register_artifact(
            out.name,
            "audio_projector",
            [out.path],
            base_model=cfg.base,
            base_sha256=self.loaded.info.source_sha256,
            recipe=RECIPE,
            config=cfg.source,
            data=f"espeak-ng speech of {len(self.train_items)} clips: {d.corpus} sentences "
            f"(training/data/corpora.py) + the command vocabulary; voices {d.voices}, speeds {d.speeds}, "
            f"SNR {d.snr_db} dB",
            metrics={k: v for k, v in metrics.items() if k not in ("projector", "whisper")}
            | {
                "wer_projector": metrics["projector"]["wer"],
                "wer_whisper": metrics["whisper"]["wer"],
                "command_accuracy_projector": metrics["projector"]["command_accuracy"],
                "command_accuracy_whisper": metrics["whisper"]["command_accuracy"],
            },
            extra={"default_decoder": "whisper", "encoder": cfg.whisper},
            root=out.manifest_path,
            sources=corpus_sources([d.corpus]),
        )


def run(cfg: AudioProjectorConfig) -> dict:
    """Train, evaluate and ship the audio projector + LoRA; the evaluation's metrics."""
    return AudioProjectorRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> None:
    AudioProjectorRecipe.main(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
