"""Train the persona projector (PPlug): a persona vector -> k soft tokens for a frozen LM.

For a paragraph x of persona a, the user has typed the first words of x (the
prefix); the rest (the continuation) is what the LM must predict:

    q = MiniLM(prefix)                                   [384]
    p = attention_persona(q, MiniLM(history_a \\ {x}))    [384]   top-k, softmax(cos/T)
    soft = projector(p)                                  [k, hidden]
    loss = NLL(continuation | BOS, soft, prefix)          LM frozen, only the projector learns

so the projector learns to turn an author's *other* paragraphs into a prefix
that makes that author's next words likelier. Stages (PersonaProjectorRecipe): setup (threads,
seeds, frozen LM) -> data (personas and their MiniLM vectors) -> model (projector, input
standardised on real personas) -> train (AdamW, warmup + cosine; a checkpoint shipped every
``train.save_every`` steps) -> evaluate (the final training loss; the held-out gain is
training/eval/persona_gain.py) -> ship (the last step: safetensors + json in ``output.dir``, entry
in ``assets/manifest.json``; the loss log).

    .venv/bin/python -m training.recipes.persona_projector \\
        --config training/configs/gemma3-270m/persona_projector.yaml train.max_steps=20
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from engine.persona.aggregate import attention_persona, mean_persona
from engine.persona.projector import PersonaProjector, ProjectorConfig
from training.config import OutputConfig, RecipeConfig, TrainConfig, option, section
from training.distributed import is_main_process
from training.recipe import Recipe, write_run_log

RECIPE = "training/recipes/persona_projector.py"


# ---------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class ProjectorShape:
    num_tokens: int = option(4, help="soft tokens k the persona becomes")
    inner: int = option(256, help="hidden width of the projector's MLP")


@dataclass(frozen=True, kw_only=True)
class AggregationConfig:
    kind: Literal["attention", "mean"] = option(
        "attention", help="attention: history paragraphs weighted by similarity to the prefix (PPlug); mean"
    )
    top_k: int = option(32, help="attention: history paragraphs attended to")
    temperature: float = option(0.1, help="attention: softmax temperature over cosine similarities")


@dataclass(frozen=True, kw_only=True)
class ProjectorData:
    max_completion_tokens: int = option(40, help="continuation tokens scored per example")


@dataclass(frozen=True, kw_only=True)
class ProjectorTrain(TrainConfig):
    save_every: int = option(
        40, help="save and register the projector every this many steps (and at the end)"
    )


@dataclass(frozen=True, kw_only=True)
class PersonaProjectorConfig(RecipeConfig):
    projector: ProjectorShape = section(ProjectorShape, "the projector's shape")
    aggregation: AggregationConfig = section(
        AggregationConfig, "how a persona's paragraphs become one vector"
    )
    data: ProjectorData = section(ProjectorData, "the examples (training.data.personas)")
    train: ProjectorTrain = section(ProjectorTrain, "optimisation")
    output: OutputConfig = section(OutputConfig, "the projector's folder and manifest entry")


# ---------------------------------------------------------------- LM scoring (shared with the eval)


@dataclass
class Example:
    lead_ids: list[int]  # [BOS] when the tokenizer adds one, else []
    prefix_ids: list[int]
    cont_ids: list[int]


def make_example(tokenizer, prefix: str, continuation: str, max_cont_tokens: int) -> Example:
    ids = tokenizer(prefix).input_ids
    bos = tokenizer.bos_token_id
    lead = ids[:1] if bos is not None and ids and ids[0] == bos else []
    cont = tokenizer(continuation, add_special_tokens=False).input_ids[:max_cont_tokens]
    return Example(lead, ids[len(lead) :], cont)


def continuation_nll(
    model, examples: list[Example], soft: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example summed NLL of the continuation tokens and their counts.

    Sequence = lead (BOS) + soft tokens [k] + prefix + continuation, right-padded
    (causal attention never reads the padding, so no mask is needed). Only the
    positions that predict continuation tokens go through the 262k-way head.
    soft: [b, k, hidden] (or [k, hidden] shared by all) in the input-embedding space, or None.
    """
    embed = model.get_input_embeddings()
    sequences, starts = [], []
    for i, ex in enumerate(examples):
        pieces = []
        if ex.lead_ids:
            pieces.append(embed(torch.tensor(ex.lead_ids)))
        if soft is not None:
            pieces.append(soft[i] if soft.dim() == 3 else soft)
        pieces.append(embed(torch.tensor(ex.prefix_ids + ex.cont_ids)))
        seq = torch.cat(pieces)
        sequences.append(seq)
        starts.append(seq.shape[0] - len(ex.cont_ids))  # index of the first continuation token
    length = max(s.shape[0] for s in sequences)
    batch = torch.stack([F.pad(s, (0, 0, 0, length - s.shape[0])) for s in sequences])
    hidden = model.model(inputs_embeds=batch, use_cache=False).last_hidden_state  # [b, L, H]
    rows, targets, owners = [], [], []
    for i, (ex, start) in enumerate(zip(examples, starts, strict=True)):
        n = len(ex.cont_ids)
        rows.append(hidden[i, start - 1 : start - 1 + n])  # position t predicts token t+1
        targets.extend(ex.cont_ids)
        owners.extend([i] * n)
    logits = model.get_output_embeddings()(torch.cat(rows)).float()  # [sum n, vocab]
    nll = F.cross_entropy(logits, torch.tensor(targets), reduction="none")
    owner = torch.tensor(owners)
    sums = torch.zeros(len(examples)).index_add(0, owner, nll)
    counts = torch.zeros(len(examples)).index_add(0, owner, torch.ones_like(nll))
    return sums, counts


def persona_vectors(
    kind: str, queries: torch.Tensor, history: torch.Tensor, top_k: int, temperature: float, exclude=None
) -> torch.Tensor:
    if kind == "mean":
        if exclude is None:
            return mean_persona(history).expand(queries.shape[0], -1)
        keep = (~exclude).float()  # [b, n]
        return (keep @ history) / keep.sum(dim=1, keepdim=True)
    return attention_persona(queries, history, top_k=top_k, temperature=temperature, exclude=exclude)


def neutral_embeddings(model, tokenizer, k: int) -> torch.Tensor:
    """Embeddings of k ordinary tokens: the starting point of the persona-independent prefix."""
    ids = tokenizer(" In the words and manner of the writer:", add_special_tokens=False).input_ids
    ids = (ids * k)[:k]
    with torch.no_grad():
        return model.get_input_embeddings()(torch.tensor(ids)).clone()


# ---------------------------------------------------------------- data


@dataclass
class PersonaData:
    name: str
    history: torch.Tensor  # [n, 384] MiniLM of the history paragraphs
    queries: torch.Tensor  # [n, 384] MiniLM of each history paragraph's prefix
    examples: list[Example]  # each history paragraph as a training example


def prepare_personas(names, personas, tokenizer, max_cont: int) -> list[PersonaData]:
    from training.data.personas import embed_texts, split_prefix

    out = []
    for name in names:
        persona = personas[name]
        splits = [split_prefix(p) for p in persona.history]
        history = torch.from_numpy(embed_texts(persona.history))
        queries = torch.from_numpy(embed_texts([pre for pre, _ in splits]))
        examples = [make_example(tokenizer, pre, cont, max_cont) for pre, cont in splits]
        out.append(PersonaData(name, history, queries, examples))
    return out


# ---------------------------------------------------------------- the recipe


class PersonaProjectorRecipe(Recipe):
    """One projector run, stage by stage; each stage reads what the earlier ones left on ``self``."""

    config_class = PersonaProjectorConfig
    cfg: PersonaProjectorConfig

    # -- setup: threads, seeds (torch's and the batch sampling's), the frozen LM

    def setup(self) -> None:
        from engine.models import load_model

        super().setup()
        random.seed(self.cfg.train.seed)
        self.loaded = load_model(self.cfg.base)
        self.loaded.model.requires_grad_(False)

    # -- data: the seen personas, their MiniLM vectors and examples

    def data(self) -> None:
        from training.data.personas import SEEN, build_personas

        print("building personas and their MiniLM vectors (cached after the first run)...", flush=True)
        personas = build_personas()
        self.personas = prepare_personas(
            SEEN, personas, self.loaded.tokenizer, self.cfg.data.max_completion_tokens
        )
        # Each author equally often (five Austen novels must not drown the one Melville), then a persona.
        authors: dict[str, list[int]] = {}
        for i, d in enumerate(self.personas):
            authors.setdefault(d.name.split(":")[0], []).append(i)
        self.author_groups = list(authors.values())

    # -- model: the projector, its input standardised on personas like those it will see

    def model(self) -> None:
        cfg, model = self.cfg, self.loaded.model
        pcfg = ProjectorConfig(
            hidden_size=int(model.config.get_text_config().hidden_size),
            num_tokens=cfg.projector.num_tokens,
            inner=cfg.projector.inner,
            aggregation=cfg.aggregation.kind,
            top_k=cfg.aggregation.top_k,
            temperature=cfg.aggregation.temperature,
        )
        self.projector = PersonaProjector(pcfg)
        samples = torch.cat(
            [
                persona_vectors(pcfg.aggregation, d.queries[:128], d.history, pcfg.top_k, pcfg.temperature)
                for d in self.personas
            ]
        )
        center = samples.mean(dim=0)
        in_scale = float(1.0 / (samples - center).norm(dim=-1).pow(2).mean().sqrt())
        neutral = neutral_embeddings(model, self.loaded.tokenizer, pcfg.num_tokens)
        self.projector.init_from_embeddings(neutral, center, in_scale)
        print(f"persona input: centred RMS norm {1 / in_scale:.3f} -> scaled to 1", flush=True)

    # -- train: AdamW on the projector only, linear warmup then cosine decay to 10%; a checkpoint is
    #    shipped every train.save_every steps, so a long run stopped early still leaves its projector

    def train(self) -> None:
        from tqdm import tqdm

        t, projector = self.cfg.train, self.projector
        optimizer = torch.optim.AdamW(projector.parameters(), lr=t.lr, weight_decay=0.0)

        def lr_factor(step: int) -> float:
            if step < t.warmup_steps:
                return (step + 1) / t.warmup_steps
            progress = (step - t.warmup_steps) / max(1, t.max_steps - t.warmup_steps)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
        self.log, ema, started = [], None, time.monotonic()
        bar = tqdm(range(t.max_steps), desc="persona projector", mininterval=5)
        for step in bar:
            loss = self.batch_loss(t.batch_size)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(projector.parameters(), t.grad_clip)
            optimizer.step()
            scheduler.step()
            ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
            bar.set_postfix(loss=f"{ema:.3f}")
            if (step + 1) % t.log_every == 0:
                per_step = (time.monotonic() - started) / (step + 1)
                print(
                    f"step {step + 1}/{t.max_steps} loss {loss.item():.4f} ema {ema:.4f} {per_step:.1f}s/step",
                    flush=True,
                )
                self.log.append({"step": step + 1, "loss_ema": round(ema, 4)})
            if (step + 1) % t.save_every == 0 and step + 1 < t.max_steps and is_main_process():
                self.save(step + 1, ema)
        self.ema = ema

    def batch_loss(self, batch_size: int) -> torch.Tensor:
        """Mean continuation NLL of a batch: author, persona and paragraph drawn at random."""
        data, pcfg = self.personas, self.projector.config
        chosen = [random.choice(random.choice(self.author_groups)) for _ in range(batch_size)]
        picks = [(p, random.randrange(len(data[p].examples))) for p in chosen]
        vectors = []
        for p, j in picks:
            d = data[p]
            exclude = torch.zeros(1, d.history.shape[0], dtype=torch.bool)
            exclude[0, j] = True  # never condition on the paragraph being predicted
            vectors.append(
                persona_vectors(
                    pcfg.aggregation, d.queries[j : j + 1], d.history, pcfg.top_k, pcfg.temperature, exclude
                )
            )
        soft = self.projector(torch.cat(vectors))
        sums, counts = continuation_nll(self.loaded.model, [data[p].examples[j] for p, j in picks], soft)
        return sums.sum() / counts.sum()

    # -- evaluate: the training loss only; the held-out gain is training/eval/persona_gain.py

    def evaluate(self) -> dict:
        return {"final_loss_ema": self.ema, "log": self.log}

    # -- ship: the last step's weights + config in output.dir, manifest entry; the loss log

    def ship(self, metrics: dict) -> None:
        if self.cfg.train.max_steps:
            self.save(self.cfg.train.max_steps, metrics["final_loss_ema"])
        write_run_log(self.cfg.output.run_path, metrics["log"])

    def save(self, step: int, ema: float) -> None:
        from engine.manifest import register_artifact
        from training.data.corpora import corpus_sources
        from training.data.personas import SEEN, SEEN_CORPORA, UNSEEN

        out = self.cfg.output
        copy.deepcopy(self.projector).to(getattr(torch, out.dtype)).save(out.path)
        print(f"saved step {step} to {out.path}", flush=True)
        if not out.register:
            return
        register_artifact(
            out.name,
            "persona_projector",
            [out.path],
            base_model=self.cfg.base,
            base_sha256=self.loaded.info.source_sha256,
            recipe=RECIPE,
            config=self.cfg.source,
            data=(
                f"training/data/personas.py: seen {', '.join(SEEN)}; unseen {', '.join(UNSEEN)} "
                "(Debian r-cran-janeaustenr, r-cran-tokenizers, r-cran-tm via training/data/corpora.py)"
            ),
            metrics={"steps": step, "train_loss_ema": round(float(ema), 4)},
            extra=self.projector.config.to_json(),
            root=out.manifest_path,
            sources=corpus_sources(SEEN_CORPORA),
        )
        print(f"registered {out.name}", flush=True)


def run(cfg: PersonaProjectorConfig) -> dict:
    """Train and ship the projector; its final loss EMA and the logged losses."""
    return PersonaProjectorRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> None:
    np.set_printoptions(precision=4)
    result = PersonaProjectorRecipe.main(argv, __doc__.splitlines()[0])
    print(json.dumps({k: v for k, v in result.items() if k != "log"}))


if __name__ == "__main__":
    main()
