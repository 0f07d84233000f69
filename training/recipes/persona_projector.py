"""Train the persona projector (PPlug): a persona vector -> k soft tokens for a frozen LM.

For a paragraph x of persona a, the user has typed the first words of x (the
prefix); the rest (the continuation) is what the LM must predict:

    q = MiniLM(prefix)                                   [384]
    p = attention_persona(q, MiniLM(history_a \\ {x}))    [384]   top-k, softmax(cos/T)
    soft = projector(p)                                  [k, hidden]
    loss = NLL(continuation | BOS, soft, prefix)          LM frozen, only the projector learns

so the projector learns to turn an author's *other* paragraphs into a prefix
that makes that author's next words likelier. The result is written to
``assets/<output>/`` (safetensors + json) and recorded in ``assets/manifest.json``.

    .venv/bin/python -m training.recipes.persona_projector \\
        --config training/configs/gemma3-270m/persona_projector.yaml --set train.steps=20
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.persona.aggregate import attention_persona, mean_persona
from engine.persona.projector import PersonaProjector, ProjectorConfig
from training.config import load_config  # YAML + key.sub=value overrides, shared by all recipes

RECIPE = "training/recipes/persona_projector.py"


# ---------------------------------------------------------------- config




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


# ---------------------------------------------------------------- training


def train(config: dict, config_path: str) -> dict:
    from tqdm import tqdm

    from engine.models import load_model
    from training.data.personas import SEEN, UNSEEN, build_personas

    torch.set_num_threads(int(config.get("num_threads", 1)))
    seed = int(config.get("seed", 0))
    random.seed(seed)
    torch.manual_seed(seed)
    tcfg, acfg = config["train"], config["aggregation"]

    loaded = load_model(config["base_model"])
    model, tokenizer = loaded.model, loaded.tokenizer
    model.requires_grad_(False)
    hidden = int(model.config.get_text_config().hidden_size)

    print("building personas and their MiniLM vectors (cached after the first run)...", flush=True)
    personas = build_personas()
    data = prepare_personas(SEEN, personas, tokenizer, int(tcfg["max_continuation_tokens"]))

    pcfg = ProjectorConfig(
        hidden_size=hidden,
        num_tokens=int(config["projector"]["num_tokens"]),
        inner=int(config["projector"]["inner"]),
        aggregation=acfg["kind"],
        top_k=int(acfg["top_k"]),
        temperature=float(acfg["temperature"]),
    )
    projector = PersonaProjector(pcfg)
    # Standardise the projector's input on personas like those it will see (aggregated per query).
    samples = torch.cat(
        [
            persona_vectors(pcfg.aggregation, d.queries[:128], d.history, pcfg.top_k, pcfg.temperature)
            for d in data
        ]
    )
    center = samples.mean(dim=0)
    in_scale = float(1.0 / (samples - center).norm(dim=-1).pow(2).mean().sqrt())
    projector.init_from_embeddings(neutral_embeddings(model, tokenizer, pcfg.num_tokens), center, in_scale)
    print(f"persona input: centred RMS norm {1 / in_scale:.3f} -> scaled to 1", flush=True)
    # Each author equally often (five Austen novels must not drown the one Melville), then a persona.
    authors: dict[str, list[int]] = {}
    for i, d in enumerate(data):
        authors.setdefault(d.name.split(":")[0], []).append(i)
    author_groups = list(authors.values())

    steps, batch_size = int(tcfg["steps"]), int(tcfg["batch_size"])
    optimizer = torch.optim.AdamW(projector.parameters(), lr=float(tcfg["lr"]), weight_decay=0.0)
    warmup = int(tcfg.get("warmup_steps", 0))

    def lr_factor(step: int) -> float:  # linear warmup, cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    out_dir = Path(__file__).resolve().parents[2] / "assets" / config["output"]
    history_log = []
    ema = None
    started = time.monotonic()
    bar = tqdm(range(steps), desc="persona projector", mininterval=5)
    for step in bar:
        chosen = [random.choice(random.choice(author_groups)) for _ in range(batch_size)]
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
        soft = projector(torch.cat(vectors))
        sums, counts = continuation_nll(model, [data[p].examples[j] for p, j in picks], soft)
        loss = sums.sum() / counts.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(projector.parameters(), float(tcfg["grad_clip"]))
        optimizer.step()
        scheduler.step()
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        bar.set_postfix(loss=f"{ema:.3f}")
        if (step + 1) % int(tcfg["log_every"]) == 0:
            elapsed = time.monotonic() - started
            print(
                f"step {step + 1}/{steps} loss {loss.item():.4f} ema {ema:.4f} {elapsed / (step + 1):.1f}s/step",
                flush=True,
            )
            history_log.append({"step": step + 1, "loss_ema": round(ema, 4)})
        if (step + 1) % int(tcfg["save_every"]) == 0 or step + 1 == steps:
            _save(projector, out_dir, config, config_path, loaded, step + 1, ema, SEEN, UNSEEN)
    return {"final_loss_ema": ema, "log": history_log}


def _save(
    projector, out_dir: Path, config: dict, config_path: str, loaded, step: int, ema, seen, unseen
) -> None:
    projector.save(out_dir)
    metrics = {"steps": step, "train_loss_ema": round(float(ema), 4)}
    data = (
        f"training/data/personas.py: seen {', '.join(seen)}; unseen {', '.join(unseen)} "
        "(Debian r-cran-janeaustenr, r-cran-tokenizers, r-cran-tm via training/data/corpora.py)"
    )
    try:
        from engine.manifest import register_artifact
    except ImportError:
        print("engine.manifest is missing: artifact saved but not registered", flush=True)
        return
    register_artifact(
        config["artifact_name"],
        "persona_projector",
        [out_dir],
        base_model=config["base_model"],
        base_sha256=loaded.info.source_sha256,
        recipe=RECIPE,
        config=config_path,
        data=data,
        metrics=metrics,
        extra=projector.config.to_json(),
    )
    print(f"saved step {step} to {out_dir} and registered {config['artifact_name']}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--set", action="append", default=[], help="override, e.g. train.steps=20")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.set)
    result = train(config, args.config)
    print(json.dumps({k: v for k, v in result.items() if k != "log"}))


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
