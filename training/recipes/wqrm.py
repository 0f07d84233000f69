"""WQRM: train the writing-quality reward model on (better, worse) pairs built offline.

    .venv/bin/python -m training.recipes.wqrm --config training/configs/gemma3-270m/wqrm.yaml \
        train.max_steps=400 eval.lm_baselines=false

setup -> data -> model -> train -> evaluate -> ship:
- data: passages of real prose (training.data.degrade.split_passages: test = Moby Dick + Persuasion,
  which no run trains on) -> pairs (human > each controlled degradation at levels 1..3; level 1 >
  level 3 of one kind; human > the base model's draft of the same continuation) -> per-text
  features (engine.quality.wqrm.FEATURES + a MiniLM embedding), cached in .data/wqrm/.
- the generic-phrase weights are refit on the training pairs (prior * exp(clipped log-ratio of
  hits per word in worse vs better texts)).
- train: Bradley-Terry, loss = -log sigmoid(beta * (score(better) - score(worse))), Adam.
- evaluate: on test-text pairs only. Each degradation kind (and "draft") is scored by a model
  trained WITHOUT that kind (leave-one-kind-out), so the headline number is on texts and kinds
  no training run saw. Baselines on the same pairs: every single metric and length (direction fit
  on the training pairs), the LM's perplexity and perplexity CV (fixed directions).
- ship: assets/wqrm/{wqrm.safetensors, wqrm.json, phrase_weights.json} -> manifest "wqrm",
  trained on every kind (the shipped model has seen all kinds, but none of the test texts).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.quality.metrics_phrases import GENERIC_PHRASES
from engine.quality.metrics_text import generic_phrase_rate, phrase_hits, words_of
from engine.quality.wqrm import EMBED_DIM, FEATURES, WQRMHead, feature_signs
from training.config import RecipeConfig, TrainConfig, option, repo_path, section
from training.data.degrade import KINDS, Passage, degrade, split_passages
from training.eval.metrics_pairwise import fitted_sign, pair_outcomes
from training.recipe import Recipe

RECIPE = "training/recipes/wqrm.py"
PHRASE_INDEX = FEATURES.index("generic_phrase_rate")


@dataclass(frozen=True, kw_only=True)
class WqrmData:
    train_passages: int = option(
        150, help="human passages from the training books (Austen but Persuasion, Reuters)"
    )
    test_passages: int = option(60, help="human passages from the held-out books (Moby Dick, Persuasion)")
    train_drafts: int = option(36, help="base-model drafts continuing training passages' contexts")
    test_drafts: int = option(24, help="base-model drafts continuing held-out passages' contexts")
    kinds: list[str] = option(list(KINDS), help="controlled degradations used (training.data.degrade.KINDS)")
    levels: list[int] = option([1, 2, 3], help="degradation strengths; (1, 3) pairs are the quality gradient")
    seed: int = option(7, help="seed of the passage sampling and of the degradations")
    cache_dir: str = option(".data/wqrm", help="features, drafts and LM NLL cache, repo-relative")


@dataclass(frozen=True, kw_only=True)
class WqrmModel:
    hidden: int = option(64, help="hidden units of the neural component's MLP")


@dataclass(frozen=True, kw_only=True)
class WqrmTrain(TrainConfig):
    weight_decay: float = option(1e-3, help="AdamW weight decay of the head")


@dataclass(frozen=True, kw_only=True)
class WqrmEval:
    lm_baselines: bool = option(True, help="score test texts with the base LM (perplexity, ppl_cv baselines)")
    lm_cached_only: bool = option(False, help="LM baselines only on texts whose NLL is already cached")


@dataclass(frozen=True, kw_only=True)
class WqrmOutput:
    name: str = option("wqrm", help="artifact name in assets/manifest.json")
    dir: str = option("assets/wqrm", help="artifact folder, repo-relative")
    register: bool = option(True, help="add/replace the manifest entry")
    manifest_root: str | None = option(None, help="assets folder of the manifest to write (None: assets/)")


@dataclass(frozen=True, kw_only=True)
class WqrmConfig(RecipeConfig):
    data: WqrmData = section(WqrmData, "how the pairs are built")
    model: WqrmModel = section(WqrmModel, "the reward head")
    train: WqrmTrain = section(WqrmTrain, "Bradley-Terry optimisation")
    eval: WqrmEval = section(WqrmEval, "held-out evaluation")
    output: WqrmOutput = section(WqrmOutput, "where the artifact goes")


@dataclass(frozen=True)
class Pair:
    better: int  # row of the text table
    worse: int
    kind: str  # a degradation kind, or "draft"
    group: str  # "vs_human" | "gradient"
    split: str  # "train" | "test"


# ---------------------------------------------------------------- data


class TextTable:
    """Unique texts, each with one row of features; pairs refer to rows."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.texts)
            self.texts.append(text)
        return self._index[text]


def build_pairs(cfg: WqrmConfig, table: TextTable) -> list[Pair]:
    from training.data.degrade_drafts import load_drafts

    d = cfg.data
    train, test = split_passages(d.train_passages, d.test_passages, seed=d.seed)
    pairs: list[Pair] = []
    for split, passages in (("train", train), ("test", test)):
        for p in passages:
            pairs.extend(_degradation_pairs(p, split, cfg, table))
    # Drafts are generated beforehand (training.data.degrade_drafts: minutes per draft on a loaded CPU).
    drafts = load_drafts(cfg.base)
    budget = {"train": d.train_drafts, "test": d.test_drafts}
    for row in drafts:
        if budget[row["split"]] > 0 and len(words_of(row["draft"])) >= 8:  # a one-line draft is no comparison
            budget[row["split"]] -= 1
            pairs.append(
                Pair(table.add(row["human"]), table.add(row["draft"]), "draft", "vs_human", row["split"])
            )
    return pairs


def _degradation_pairs(p: Passage, split: str, cfg: WqrmConfig, table: TextTable) -> list[Pair]:
    human = table.add(p.text)
    out = []
    for kind in cfg.data.kinds:
        rows = {lv: table.add(degrade(p.text, kind, lv, cfg.data.seed)) for lv in cfg.data.levels}
        out.extend(
            Pair(human, rows[lv], kind, "vs_human", split) for lv in cfg.data.levels if rows[lv] != human
        )
        lo, hi = min(rows), max(rows)
        if lo != hi and rows[lo] != rows[hi]:
            out.append(Pair(rows[lo], rows[hi], kind, "gradient", split))
    return out


def text_features(texts: list[str], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(raw FEATURES [N, m], MiniLM [N, 384]) for the texts, computing only those not cached."""
    from engine.persona.encoder import default_encoder
    from engine.quality.wqrm import feature_matrix

    path = cache / "features.npz"
    known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if path.exists():
        z = np.load(path)
        if tuple(z["features"]) == FEATURES:
            known = {k: (r, e) for k, r, e in zip(z["keys"], z["raw"], z["emb"], strict=True)}
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    missing = [i for i, k in enumerate(keys) if k not in known]
    for start in range(0, len(missing), 64):  # chunks, saved as they go: a long run can resume
        chunk = missing[start : start + 64]
        batch = [texts[i] for i in chunk]
        raw = feature_matrix(batch, GENERIC_PHRASES)
        emb = default_encoder().encode(batch)
        for j, i in enumerate(chunk):
            known[keys[i]] = (raw[j], emb[j])
        _save_features(path, known)
        print(f"features: {min(start + 64, len(missing))}/{len(missing)} new texts", flush=True)
    raw = np.stack([known[k][0] for k in keys]) if keys else np.zeros((0, len(FEATURES)))
    emb = np.stack([known[k][1] for k in keys]) if keys else np.zeros((0, EMBED_DIM))
    return raw.astype(np.float32), emb.astype(np.float32)


def _save_features(path: Path, known: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(known)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, keys=np.array(keys), features=np.array(FEATURES),
             raw=np.stack([known[k][0] for k in keys]), emb=np.stack([known[k][1] for k in keys]))  # fmt: skip
    tmp.replace(path)


def fit_phrase_weights(texts: list[str], pairs: list[Pair]) -> dict[str, float]:
    """prior_p * exp(clip(log((hits in worse + 1) / words_worse) - log((hits in better + 1) / words_better), -2, 2))."""

    def tally(rows: set[int]) -> tuple[dict[str, int], int]:
        hits: dict[str, int] = dict.fromkeys(GENERIC_PHRASES, 0)
        words = 0
        for i in rows:
            words += len(words_of(texts[i]))
            for p, n in phrase_hits(texts[i], list(GENERIC_PHRASES)).items():
                hits[p] += n
        return hits, max(1, words)

    better, worse = {p.better for p in pairs}, {p.worse for p in pairs} - {p.better for p in pairs}
    (hb, wb), (hw, ww) = tally(better), tally(worse)
    out = {}
    for phrase, prior in GENERIC_PHRASES.items():
        ratio = math.log((hw[phrase] + 1) / ww) - math.log((hb[phrase] + 1) / wb)
        out[phrase] = round(prior * math.exp(max(-2.0, min(2.0, ratio))), 4)
    return out


# ---------------------------------------------------------------- model and training


def new_head(cfg: WqrmConfig, raw: np.ndarray, rows: list[int]) -> WQRMHead:
    """A head whose standardization uses the training texts' mean/std."""
    head = WQRMHead(len(FEATURES), cfg.model.hidden)
    sub = raw[sorted(set(rows))]
    mean = np.nanmean(sub, axis=0)
    std = np.nanstd(sub, axis=0)
    head.mean.copy_(torch.from_numpy(np.nan_to_num(mean)))
    head.std.copy_(torch.from_numpy(np.where(np.nan_to_num(std) > 1e-6, np.nan_to_num(std), 1.0)))
    head.sign.copy_(torch.tensor(feature_signs()))
    return head


def train_head(
    cfg: WqrmConfig, raw: np.ndarray, emb: np.ndarray, pairs: list[Pair]
) -> tuple[WQRMHead, float]:
    """Bradley-Terry on ``pairs``; returns the head and its last-50-step mean loss."""
    torch.manual_seed(cfg.train.seed)
    head = new_head(cfg, raw, [r for p in pairs for r in (p.better, p.worse)])
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    raw_t, emb_t = torch.from_numpy(raw), torch.from_numpy(emb)
    b = torch.tensor([p.better for p in pairs])
    w = torch.tensor([p.worse for p in pairs])
    gen = torch.Generator().manual_seed(cfg.train.seed)
    losses = []
    head.train()
    for step in range(cfg.train.max_steps):
        idx = torch.randint(len(pairs), (min(cfg.train.batch_size, len(pairs)),), generator=gen)
        diff = head(emb_t[b[idx]], raw_t[b[idx]]) - head(emb_t[w[idx]], raw_t[w[idx]])
        loss = -F.logsigmoid(head.log_beta.exp() * diff).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), cfg.train.grad_clip)
        opt.step()
        losses.append(loss.item())
        if cfg.train.log_every and (step + 1) % (cfg.train.log_every * 20) == 0:
            print(f"  step {step + 1}: loss {np.mean(losses[-50:]):.4f}", flush=True)
    return head.eval(), float(np.mean(losses[-50:]))


def head_scores(head: WQRMHead, raw: np.ndarray, emb: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return head(torch.from_numpy(emb), torch.from_numpy(raw)).numpy()


# ---------------------------------------------------------------- evaluation


def lm_nll_means(cfg: WqrmConfig, texts: list[str], rows: list[int]) -> dict[int, tuple[float, float]]:
    """{row: (mean token NLL, NLL coefficient of variation)} under the base LM, cached by text sha256.

    With ``eval.lm_cached_only`` only rows already in the cache are returned (the LM baselines then
    cover the pairs that have both texts scored, reported as their own group)."""
    from engine.quality.metrics_lm import token_nll
    from engine.quality.metrics_text import coefficient_of_variation

    path = repo_path(cfg.data.cache_dir) / f"nll-{cfg.base}.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    keys = {r: hashlib.sha256(texts[r].encode()).hexdigest() for r in rows}
    todo = [r for r in rows if keys[r] not in cache]
    if todo and not cfg.eval.lm_cached_only:
        from engine.models import load_model

        loaded = load_model(cfg.base)
        t0 = time.time()
        for n, r in enumerate(todo):
            nll = token_nll(loaded.model, loaded.tokenizer, texts[r])
            cache[keys[r]] = [float(np.mean(nll)), coefficient_of_variation(nll) or math.nan]
            if (n + 1) % 50 == 0 or n + 1 == len(todo):
                path.write_text(json.dumps(cache))
                print(f"LM NLL: {n + 1}/{len(todo)} texts, {time.time() - t0:.0f} s", flush=True)
    return {r: tuple(cache[keys[r]]) for r in rows if keys[r] in cache}


def _acc(outcomes: np.ndarray) -> float:
    """Mean outcome, NaN (a baseline that did not score these pairs) left out."""
    known = outcomes[~np.isnan(outcomes)]
    return round(float(known.mean()), 4) if len(known) else math.nan


def evaluate(cfg: WqrmConfig, texts: list[str], raw: np.ndarray, emb: np.ndarray, pairs: list[Pair]) -> dict:
    train = [p for p in pairs if p.split == "train"]
    test = [p for p in pairs if p.split == "test"]
    kinds = sorted({p.kind for p in pairs})
    # Leave one kind out: each test pair is scored by a model that never saw its kind.
    loto = np.zeros(len(test))
    for kind in kinds:
        head, _ = train_head(cfg, raw, emb, [p for p in train if p.kind != kind])
        s = head_scores(head, raw, emb)
        for i, p in enumerate(test):
            if p.kind == kind:
                loto[i] = pair_outcomes([s[p.better]], [s[p.worse]])[0]
    full_head, _ = train_head(cfg, raw, emb, train)
    s_full = head_scores(full_head, raw, emb)
    seen = pair_outcomes([s_full[p.better] for p in test], [s_full[p.worse] for p in test])
    columns: dict[str, np.ndarray] = {"WQRM (kind unseen)": loto, "WQRM (all kinds seen)": seen}
    lengths = np.array([len(words_of(t)) for t in texts], dtype=np.float64)
    singles = {name: raw[:, j].astype(np.float64) for j, name in enumerate(FEATURES)} | {"length": lengths}
    for name, values in singles.items():
        sign = fitted_sign([values[p.better] for p in train], [values[p.worse] for p in train])
        columns[f"{name} ({'+' if sign > 0 else '-'})"] = pair_outcomes(
            [values[p.better] for p in test], [values[p.worse] for p in test], sign
        )
    lm_mask = [False] * len(test)
    if cfg.eval.lm_baselines:
        nll = lm_nll_means(cfg, texts, sorted({r for p in test for r in (p.better, p.worse)}))
        lm_mask = [p.better in nll and p.worse in nll for p in test]
        nan = (math.nan, math.nan)
        for name, j, sign in (("LM perplexity (-)", 0, -1.0), ("ppl_cv (+)", 1, 1.0)):
            better = [nll.get(p.better, nan)[j] for p in test]
            worse = [nll.get(p.worse, nan)[j] for p in test]
            # NaN where a text has no NLL: those pairs are outside the "LM-scored" group
            columns[name] = np.where(lm_mask, pair_outcomes(better, worse, sign), math.nan)
    return summarize(columns, test, kinds, lm_mask)


def summarize(
    columns: dict[str, np.ndarray], test: list[Pair], kinds: list[str], lm_mask: list[bool]
) -> dict:
    """Accuracy of every column on all test pairs, on "vs human" pairs per kind, on gradient pairs and on
    the pairs the LM scored (the fair comparison with the perplexity baselines)."""
    groups = {"all": [True] * len(test)}
    groups |= {k: [p.kind == k and p.group == "vs_human" for p in test] for k in kinds}
    groups["gradient (L1 > L3)"] = [p.group == "gradient" for p in test]
    if any(lm_mask):
        groups["LM-scored pairs"] = lm_mask
    table = {
        col: {g: _acc(out[np.array(mask, dtype=bool)]) for g, mask in groups.items()}
        for col, out in columns.items()
    }
    # The best single score on ALL pairs (the LM baselines cover a subset: compared in their own group).
    singles = {
        c: v["all"] for c, v in table.items() if not c.startswith("WQRM") and not c.startswith(("LM", "ppl"))
    }
    best = max(singles, key=singles.get)
    return {
        "table": table,
        "pairs": {g: int(sum(m)) for g, m in groups.items()},
        "heldout_accuracy": table["WQRM (kind unseen)"]["all"],
        "heldout_accuracy_kinds_seen": table["WQRM (all kinds seen)"]["all"],
        "best_single": best,
        "best_single_accuracy": singles[best],
    }


def print_table(result: dict) -> None:
    groups = list(result["pairs"])
    print("| score | " + " | ".join(f"{g} (n={result['pairs'][g]})" for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    for col, accs in result["table"].items():
        print(
            f"| {col} | "
            + " | ".join("–" if math.isnan(accs[g]) else f"{accs[g]:.3f}" for g in groups)
            + " |"
        )


# ---------------------------------------------------------------- the recipe


class WqrmRecipe(Recipe):
    """One WQRM run, stage by stage; each stage reads what the earlier ones left on ``self``."""

    config_class = WqrmConfig
    cfg: WqrmConfig

    # -- data: pairs of texts, their features (cached), generic-phrase weights refit on the training pairs

    def data(self) -> None:
        cfg, self.table = self.cfg, TextTable()
        self.pairs = build_pairs(cfg, self.table)
        print(f"{len(self.table.texts)} texts, {len(self.pairs)} pairs", flush=True)
        self.raw, self.emb = text_features(self.table.texts, repo_path(cfg.data.cache_dir))
        self.train_pairs = [p for p in self.pairs if p.split == "train"]
        self.weights = fit_phrase_weights(self.table.texts, self.train_pairs)
        self.raw[:, PHRASE_INDEX] = [generic_phrase_rate(t, self.weights) for t in self.table.texts]

    # -- model: nothing ahead of training; train_head builds each head, standardised on its own pairs

    def model(self) -> None:
        pass

    # -- train: the shipped head, on every kind's training pairs (train_head reseeds, so the evaluation's
    #    heads come out the same whether they are trained before or after it)

    def train(self) -> None:
        self.head, self.loss = train_head(self.cfg, self.raw, self.emb, self.train_pairs)

    # -- evaluate: leave-one-kind-out heads and the single-metric baselines on the held-out pairs

    def evaluate(self) -> dict:
        result = evaluate(self.cfg, self.table.texts, self.raw, self.emb, self.pairs)
        print_table(result)
        return result

    # -- ship: eval.json beside the cache; head, its config and the phrase weights in output.dir; manifest

    def ship(self, result: dict) -> None:
        from safetensors.torch import save_file

        cfg, head = self.cfg, self.head
        (repo_path(cfg.data.cache_dir) / "eval.json").write_text(json.dumps(result, indent=2))
        out = repo_path(cfg.output.dir)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in head.state_dict().items()}, out / "wqrm.safetensors")
        alpha = dict(zip(["neural", *FEATURES], head.alpha().tolist(), strict=True))
        config = {
            "features": list(FEATURES),
            "hidden": cfg.model.hidden,
            "encoder": "all-MiniLM-L6-v2",
            "alpha": {k: round(v, 4) for k, v in alpha.items()},
            "beta": round(head.log_beta.exp().item(), 4),
        }
        (out / "wqrm.json").write_text(json.dumps(config, indent=2) + "\n")
        (out / "phrase_weights.json").write_text(json.dumps(self.weights, indent=2, sort_keys=True) + "\n")
        if cfg.output.register:
            self.register(out, config, result)

    def register(self, out: Path, config: dict, result: dict) -> None:
        from engine import manifest
        from engine.models import BUILTIN_MODELS

        cfg = self.cfg
        # The drafts came from this base; the reward model itself runs without it (MiniLM + metrics).
        base_sha = getattr(BUILTIN_MODELS.get(cfg.base), "gguf_sha256", None) or ""
        metrics = {
            k: result[k]
            for k in (
                "heldout_accuracy",
                "heldout_accuracy_kinds_seen",
                "best_single",
                "best_single_accuracy",
            )
        }
        metrics |= {
            "heldout_pairs": result["pairs"]["all"],
            "train_pairs": len(self.train_pairs),
            "final_train_loss": round(self.loss, 4),
        }
        data = (
            f"pairs from real prose: human passages > controlled degradations ({', '.join(cfg.data.kinds)}; "
            f"levels {cfg.data.levels}, level {min(cfg.data.levels)} > {max(cfg.data.levels)} as the quality gradient) "
            f"and > {cfg.base} drafts of the same continuation (cut to equal length); train texts: Austen "
            "(all but Persuasion) + Reuters; held-out texts: Moby Dick + Persuasion; features: MiniLM "
            "embedding + engine.quality.wqrm.FEATURES"
        )
        root = cfg.output.manifest_root and repo_path(cfg.output.manifest_root)
        manifest.register_artifact(
            cfg.output.name, "other", [out], cfg.base, base_sha, RECIPE, cfg.source, data, metrics,
            extra={"model": "wqrm", "alpha": config["alpha"]}, root=root,
        )  # fmt: skip


def run(cfg: WqrmConfig) -> dict:
    """Build the pairs, train, evaluate and ship the reward model; the held-out evaluation."""
    return WqrmRecipe(cfg).run()


def main(argv: list[str] | None = None) -> None:
    result = WqrmRecipe.main(argv, __doc__.splitlines()[0])
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2))


if __name__ == "__main__":
    main()
