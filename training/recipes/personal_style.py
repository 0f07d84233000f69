"""Learn my style: a LoRA trained on the writer's own indexed paragraphs with the next-token loss.

    python -m training.recipes.personal_style --config training/configs/gemma3-270m/personal_style.yaml
    python -m training.recipes.personal_style --config ... base=/path/to/model data.memory=/tmp/persona.sqlite3

The app starts it as a background process (Tools > "Learn my style"), like personal_dpo: one JSON
line per stage and per optimizer step on stdout ({"stage": "train", "step": 3, "of": 40, ...}), the
last one {"done": "personal_style", ...metrics} or {"error": "..."} (exit code 2 for bad input or a
refused update).

Stages: setup (threads, seed, base model) -> data (the style memory's paragraphs, a fixed held-out
slice chosen by a hash of each paragraph's text, short token windows) -> model (a LoRA on the top
layers only, or the adapter already learned, to continue from it) -> train (next-token loss over the
pruned output vocabulary, evaluated on the held-out slice every few steps: early stop, best state kept)
-> evaluate (held-out NLL before and after) -> ship (only if the held-out NLL went down: a new folder
under the user's artifacts, then the user's manifest rewritten atomically, then the old folder removed;
engine/adapters.py reads it as ``personal_style``).

Incremental: the manifest entry records the sha256 of every document it learned from. The next run
trains on the paragraphs of new or changed documents (plus as many already-learned ones, replayed, so
that it does not forget them), starting from the adapter in use; with nothing new it says so and
changes nothing. An adapter in use that is damaged or made for another base is set aside (a message)
and the run starts afresh.

Atomic: a run stopped at any point leaves the manifest naming the old adapter (or none) with its files
whole; a folder a killed run left half-written is not in the manifest and is removed by the next run.
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from engine.errors import ArtifactError, KillahError
from training.config import (
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    repo_path,
    section,
)
from training.recipe import Recipe
from training.recipes.personal_dpo import cpu_seconds, emit

RECIPE = "training/recipes/personal_style.py"
NAME = "personal_style"  # engine.adapters.PERSONAL_STYLE


# ---------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class StyleData:
    memory: str = option("", help="the style memory (SQLite); '' = the user's (engine.persona.store)")
    min_paragraphs: int = option(
        24, help="fewer usable paragraphs than this: 'Not enough of your writing yet' (exit 2)"
    )
    min_words: int = option(8, help="shorter paragraphs (headings, captions) are not used")
    max_paragraphs: int = option(300, help="the most paragraphs one run trains on (thinned evenly)")
    heldout_share: float = option(0.15, help="share of paragraphs held out (by a hash of their text: fixed)")
    heldout_min: int = option(4, help="the fewest held-out paragraphs")
    heldout_max: int = option(48, help="the most held-out paragraphs scored (the check's cost)")
    seq_tokens: int = option(64, help="tokens per training window (BOS + a piece of one paragraph)")
    replay: float = option(
        1.0, help="incremental runs: already-learned paragraphs replayed per new one (forgetting)"
    )
    vocab: str = option(
        "latin-cyrillic",
        help="output rows the loss scores (engine.export.vocab rule; 'full' = all): Gemma's head has 262k",
    )


@dataclass(frozen=True, kw_only=True)
class StyleLora(LoraAdapterConfig):
    top_layers: int = option(
        6, help="adapt only the last N transformer layers (0 = all): the backward pass stops there"
    )


@dataclass(frozen=True, kw_only=True)
class StyleTrain(TrainConfig):
    epochs: float = option(2.0, help="passes over the training windows; max_steps caps the steps")
    eval_every: int = option(10, help="held-out NLL every this many steps (early stop, best state kept)")
    patience: int = option(2, help="stop after this many evaluations without a better held-out NLL")
    min_gain: float = option(
        0.0, help="ship only if the held-out NLL falls by more than this (nats/token) below the one in use"
    )


@dataclass(frozen=True, kw_only=True)
class StyleOutput(OutputConfig):
    name: str = option(NAME, help="artifact name in the user's manifest (engine.adapters.PERSONAL_STYLE)")
    dir: str = option("", help="unused: the adapter goes to <manifest root>/adapters/<name>-<time>")
    manifest_root: str | None = option(
        None, help="manifest folder; None = engine.adapters.user_artifacts_root()"
    )

    @property
    def root(self) -> Path:
        from engine.adapters import user_artifacts_root

        return repo_path(self.manifest_root) if self.manifest_root else user_artifacts_root()


@dataclass(frozen=True, kw_only=True)
class StyleConfig(RecipeConfig):
    data: StyleData = section(StyleData, "the writer's paragraphs it learns from")
    lora: StyleLora = section(StyleLora, "the style adapter")
    train: StyleTrain = section(StyleTrain, "optimisation")
    output: StyleOutput = section(StyleOutput, "where the adapter goes")


class NotEnoughWriting(KillahError):
    """Too few usable paragraphs in the style memory: nothing is trained."""


class WorseStyle(KillahError):
    """The update does not lower the held-out NLL: not shipped."""

    def __init__(self, message: str, metrics: dict) -> None:
        super().__init__(message)
        self.metrics = metrics


# ---------------------------------------------------------------- pieces


def held_out(text: str, share: float) -> bool:
    """Whether a paragraph is in the held-out slice: fixed by its text, so every run agrees."""
    return _hash01(text) < share


def _hash01(text: str) -> float:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def windows(tokenizer, text: str, seq_tokens: int, min_tokens: int = 4) -> list[list[int]]:
    """A paragraph as token windows of at most ``seq_tokens``, each starting with BOS."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    step = seq_tokens - len(bos)
    return [bos + ids[i : i + step] for i in range(0, len(ids), step) if len(ids[i : i + step]) >= min_tokens]


class PrunedLM:
    """Next-token NLL with the output layer restricted to the kept vocabulary rows.

    hidden [N, H] @ W[keep].T -> logits [N, K]; a target outside ``keep`` is not scored (the rule keeps
    every token of the supported scripts, and byte tokens, so in practice none is dropped).
    """

    def __init__(self, model, keep: list[int] | None) -> None:
        from training.loss import causal_lm_parts

        self.body, head, self.softcap = causal_lm_parts(model)
        weight = head.weight.detach()
        if keep is None:
            self.weight, self.index = weight, None
        else:
            ids = torch.tensor(keep, dtype=torch.long)
            self.weight = weight.index_select(0, ids).contiguous()  # [K, H]
            self.index = torch.full((weight.shape[0],), -1, dtype=torch.long)
            self.index[ids] = torch.arange(len(keep))

    def loss(self, batch: list[list[int]], pad_id: int) -> tuple[torch.Tensor, int]:
        """(mean NLL over the scored tokens, their count) of a batch of token windows."""
        width = max(len(r) for r in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        hidden = self.body(input_ids=ids, attention_mask=mask).last_hidden_state  # [B, T, H]
        target = ids[:, 1:]
        scored = mask[:, 1:].bool()
        if self.index is not None:
            target = self.index[target]
            scored &= target >= 0
        logits = F.linear(hidden[:, :-1][scored], self.weight.to(hidden.dtype))  # [N, K]
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        n = int(scored.sum())
        if n == 0:
            return hidden.sum() * 0.0, 0
        return F.cross_entropy(logits.float(), target[scored]), n

    @torch.no_grad()
    def mean_nll(self, rows: list[list[int]], pad_id: int, batch_size: int = 8) -> float:
        total, count = 0.0, 0
        for i in range(0, len(rows), batch_size):
            loss, n = self.loss(rows[i : i + batch_size], pad_id)
            total, count = total + float(loss) * n, count + n
        return total / max(count, 1)


# ---------------------------------------------------------------- stages


class PersonalStyleRecipe(Recipe):
    config_class = StyleConfig
    cfg: StyleConfig

    def setup(self) -> None:
        from engine.models import load_model

        super().setup()
        emit(stage="setup", message="loading the model")
        self.loaded = load_model(self.cfg.base)
        self.previous = self._previous()

    def _previous(self):
        """The adapter in use, if it can be continued from; a damaged or foreign one is set aside."""
        from engine.manifest import load_manifest

        root = self.cfg.output.root
        try:
            entry = load_manifest(root).get(self.cfg.output.name) if root.exists() else None
            if entry is None:
                return None
            entry.verify()
            entry.require_base(self.loaded.info)
        except ArtifactError as exc:
            emit(stage="setup", message=f"Your style adapter was set aside and is learned afresh: {exc}")
            return None
        spec, lora = self.cfg.lora, dict(entry.extra.get("lora") or {})
        if lora != self._lora_extra():
            emit(stage="setup", message=f"Your style adapter was made with other settings ({spec}): learned afresh")
            return None
        return entry

    def _lora_extra(self) -> dict:
        s = self.cfg.lora
        return {"r": s.r, "alpha": s.alpha, "target_modules": s.target_modules, "top_layers": s.top_layers}

    def data(self) -> None:
        from engine.persona.store import PersonaStore

        d = self.cfg.data
        store = PersonaStore(Path(d.memory) if d.memory else None)
        try:
            docs = {r.path: r.sha256 for r in store.documents()}
            paragraphs = {
                path: [p for p in store.iter_paragraph_texts(path) if len(p.split()) >= d.min_words]
                for path in docs
            }
        finally:
            store.close()
        usable = sum(len(ps) for ps in paragraphs.values())
        if usable < d.min_paragraphs:
            raise NotEnoughWriting(
                f"Not enough of your writing yet: {usable} paragraphs (needs {d.min_paragraphs}). Add "
                f"documents you wrote in Tools > Style memory (paragraphs of at least {d.min_words} words count)."
            )
        learned = dict(self.previous.extra.get("documents") or {}) if self.previous else {}
        new_docs = [p for p, sha in docs.items() if learned.get(p) != sha]
        self.documents = docs
        all_paras = [(p, t) for p, ts in paragraphs.items() for t in ts]
        heldout = [t for _, t in all_paras if held_out(t, d.heldout_share)]
        if len(heldout) < d.heldout_min:  # a small memory: the lowest hashes, so still fixed by the text
            heldout = sorted((t for _, t in all_paras), key=_hash01)[: d.heldout_min]
        heldout = sorted(heldout, key=_hash01)[: d.heldout_max]
        held = set(heldout)
        new = [t for p, t in all_paras if p in new_docs and t not in held]
        old = [t for p, t in all_paras if p not in new_docs and t not in held]
        self.n_new, self.n_paragraphs = len(new), usable
        if not new:
            self.train_paras = []
        else:
            rng = random.Random(self.cfg.train.seed)
            replay = rng.sample(old, min(len(old), int(d.replay * len(new))))
            self.train_paras = _thin(new + replay, d.max_paragraphs)
        tok = self.loaded.tokenizer
        self.train_rows = [w for t in self.train_paras for w in windows(tok, t, d.seq_tokens)]
        self.heldout_rows = [w for t in heldout for w in windows(tok, t, d.seq_tokens)]
        emit(stage="data", paragraphs=usable, new_paragraphs=len(new), trained_paragraphs=len(self.train_paras),
             heldout_paragraphs=len(heldout), windows=len(self.train_rows))

    def model(self) -> None:
        from peft import PeftModel, get_peft_model

        from engine.export.vocab import kept_token_ids
        from training import lora

        spec, model = self.cfg.lora, self.loaded.model
        if self.previous is not None:
            self.peft_model = PeftModel.from_pretrained(model, str(self.previous.folder), is_trainable=True)
        else:
            config = lora.lora_config(spec.r, spec.alpha, spec.dropout, spec.target_modules)
            if spec.top_layers:
                n_layers = model.config.get_text_config().num_hidden_layers
                config.layers_to_transform = list(range(max(0, n_layers - spec.top_layers), n_layers))
            self.peft_model = get_peft_model(model, config)
        self.trainable = lora.count_trainable(self.peft_model)
        tok = self.loaded.tokenizer
        keep = None if self.cfg.data.vocab == "full" else kept_token_ids(tok, self.cfg.data.vocab)
        self.lm = PrunedLM(self.peft_model, keep)
        self.vocab_rows = len(keep) if keep is not None else None
        self.pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        t = self.cfg.train
        self.steps = min(t.max_steps, math.ceil(t.epochs * len(self.train_rows) / t.batch_size))

    def heldout_nll(self) -> float:
        was = self.peft_model.training
        self.peft_model.eval()
        try:
            return round(self.lm.mean_nll(self.heldout_rows, self.pad), 5)
        finally:
            self.peft_model.train(was)

    def train(self) -> None:
        t = self.cfg.train
        self.before = self.heldout_nll()  # the adapter in use (or the base): the bar to beat
        self.best, self.best_step, self.curve = self.before, 0, [(0, self.before)]
        if not self.train_rows:
            return
        params = [p for p in self.peft_model.parameters() if p.requires_grad]
        best_state = [p.detach().clone() for p in params]
        opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=0.0)

        def lr_at(step: int) -> float:  # warmup, then cosine to 10%
            if step < t.warmup_steps:
                return (step + 1) / (t.warmup_steps + 1)
            done = (step - t.warmup_steps) / max(1, self.steps - t.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        rng = random.Random(t.seed)
        order: list[int] = []
        stale = 0
        emit(stage="train", step=0, of=self.steps, heldout_nll=self.before)
        self.peft_model.train()
        for step in range(1, self.steps + 1):
            if len(order) < t.batch_size:
                order += rng.sample(range(len(self.train_rows)), len(self.train_rows))
            batch, order = [self.train_rows[i] for i in order[: t.batch_size]], order[t.batch_size :]
            loss, _ = self.lm.loss(batch, self.pad)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, t.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            row = {"stage": "train", "step": step, "of": self.steps, "loss": round(loss.item(), 4),
                   "cpu_seconds": cpu_seconds()}
            if step % t.eval_every == 0 or step == self.steps:
                nll = self.heldout_nll()
                self.curve.append((step, nll))
                row["heldout_nll"] = nll
                if nll < self.best:
                    self.best, self.best_step, stale = nll, step, 0
                    best_state = [p.detach().clone() for p in params]
                else:
                    stale += 1
            emit(**row)
            if stale >= t.patience:
                break
        self.steps_run = step
        with torch.no_grad():  # the best evaluated state, not the last one
            for p, b in zip(params, best_state, strict=True):
                p.copy_(b)

    def evaluate(self) -> dict:
        return {
            "heldout_nll_before": self.before,
            "heldout_nll_after": self.best,
            "best_step": self.best_step,
            "steps": getattr(self, "steps_run", 0),
            "paragraphs": self.n_paragraphs,
            "new_paragraphs": self.n_new,
            "trained_paragraphs": len(self.train_paras),
            "heldout_windows": len(self.heldout_rows),
            "train_windows": len(self.train_rows),
            "vocab_rows": self.vocab_rows,
            "trainable_params": self.trainable,
            "train_seconds": round(time.monotonic() - self.started, 1),
            "cpu_seconds": cpu_seconds(),
        }

    def ship(self, metrics: dict) -> None:
        from engine.manifest import register_artifact
        from training import lora

        out, info = self.cfg.output, self.loaded.info
        root = out.root
        in_use = _entry_folder(root, out.name)
        _remove_strays(root, out.name, keep=in_use)
        if not self.train_rows:
            emit(done=out.name, up_to_date=True, message=f"Your style is up to date: nothing new in your "
                 f"{len(self.documents)} documents since it was learned.", **metrics)
            return
        before, after = metrics["heldout_nll_before"], metrics["heldout_nll_after"]
        if not after < before - self.cfg.train.min_gain:
            raise WorseStyle(
                f"This update would not predict your own writing better: on {len(self.heldout_rows)} pieces "
                f"of your text kept aside, {before:.3f} nats per token before and {after:.3f} after. "
                "Nothing was changed.",
                metrics,
            )
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-{time.monotonic_ns() % 10**6:06d}"
        folder = root / "adapters" / f"{out.name}-{stamp}"
        lora.save_adapter(self.peft_model, folder, adapter_name="default", dtype=getattr(torch, out.dtype))
        if out.register:  # the commit point: manifest.json is replaced atomically
            register_artifact(
                out.name,
                "lora_adapter",
                [folder],
                base_model=info.name,
                base_sha256=info.source_sha256,
                recipe=RECIPE,
                config=self.cfg.source,
                data=f"{self.n_paragraphs} paragraphs of the writer's own documents (style memory)",
                metrics=metrics,
                extra={
                    "lora": self._lora_extra(),
                    "applies_to": ["autocomplete", "continue", "rephrase"],
                    "documents": self.documents,
                },
                root=root,
            )
        if in_use is not None and in_use.resolve() != folder.resolve() and in_use.is_relative_to(root):
            shutil.rmtree(in_use, ignore_errors=True)  # the engine holds the old weights until it reloads
        emit(done=out.name, folder=str(folder), **metrics)


def _thin(items: list, most: int) -> list:
    if len(items) <= most:
        return items
    step = len(items) / most
    return [items[int(i * step)] for i in range(most)]


def _entry_folder(root: Path, name: str) -> Path | None:
    """The folder the user's manifest names for ``name`` (None: no entry, or no readable manifest)."""
    from engine.manifest import load_manifest

    try:
        entry = load_manifest(root).get(name) if root.exists() else None
    except ArtifactError:
        return None
    return entry.folder if entry is not None else None


def _remove_strays(root: Path, name: str, keep: Path | None) -> None:
    """Folders of runs that were stopped before their manifest write: never named by the manifest."""
    for folder in (root / "adapters").glob(f"{name}-*"):
        if folder.is_dir() and (keep is None or folder.resolve() != keep.resolve()):
            shutil.rmtree(folder, ignore_errors=True)


def run(cfg: StyleConfig) -> dict:
    return PersonalStyleRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> int:
    cfg = PersonalStyleRecipe.config_from_argv(argv, __doc__.splitlines()[0])
    try:
        run(cfg)
    except KillahError as exc:  # too little text or a refused update: a message for the writer
        emit(error=str(exc), **getattr(exc, "metrics", {}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
