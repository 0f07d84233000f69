"""The audio projector path: frozen Whisper encoder -> frame stacking -> MLP -> LM input embeddings.

    audio 16 kHz --log-mel--> (80, 3000) --Whisper encoder (CTranslate2, frozen)--> (1500, d_enc)
      --keep the frames that cover the clip, stack K--> (T/K, K*d_enc)
      --AudioProjector (Linear, GELU, Linear)--> (T/K, d_lm) soft tokens
    LM input: [BOS] soft tokens "Transcript:" -> the LM (with an audio LoRA) writes the words.

Whisper's own decoder stays the default recognizer; this path exists so the LM can
hear directly (transcribe and tell commands from dictation in one model). Trained by
training/recipes/audio_projector.py; shipped via the manifest as ``audio_projector_<base>``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.audio import SAMPLE_RATE

ENCODER_FRAMES_PER_SECOND = 50  # 1500 frames per 30 s window
PROMPT = "Transcript:"


def encoder_states(whisper_model, audio: np.ndarray) -> np.ndarray:
    """Final-layer Whisper encoder states for the frames covering ``audio`` (<= 30 s): (T, d_enc) float32.

    ``whisper_model`` is a faster_whisper.WhisperModel (e.g. ``Recognizer(...).model``)."""
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    audio = np.asarray(audio, dtype=np.float32)[: 30 * SAMPLE_RATE]
    mel = whisper_model.feature_extractor(audio)
    mel = pad_or_trim(mel, 3000).astype(np.float32)
    out = whisper_model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])))
    states = np.array(out)[0]  # (1500, d_enc)
    frames = min(len(states), math.ceil(len(audio) / SAMPLE_RATE * ENCODER_FRAMES_PER_SECOND) + 2)
    return states[:frames]


def stack_frames(states: torch.Tensor, k: int) -> torch.Tensor:
    """(T, d) -> (ceil(T/k), k*d), zero-padding the last group."""
    t, d = states.shape
    pad = (-t) % k
    if pad:
        states = torch.cat([states, states.new_zeros(pad, d)])
    return states.reshape(-1, k * d)


class AudioProjector(nn.Module):
    """x -> W2 GELU(W1 x), on K stacked encoder frames; outputs live in the LM's embedding space."""

    def __init__(self, encoder_dim: int, lm_dim: int, stack: int = 4, hidden: int = 1024) -> None:
        super().__init__()
        self.stack = stack
        self.encoder_dim = encoder_dim
        self.net = nn.Sequential(nn.Linear(encoder_dim * stack, hidden), nn.GELU(), nn.Linear(hidden, lm_dim))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(stack_frames(states, self.stack))


@torch.no_grad()
def transcribe_with_lm(model, tokenizer, projector: AudioProjector, states: np.ndarray, max_new_tokens: int = 32) -> str:
    """Greedy decode of the LM (with its audio LoRA active) from projected audio."""
    device = next(model.parameters()).device
    embed = model.get_input_embeddings()
    soft = projector(torch.from_numpy(states).to(device)).to(embed.weight.dtype)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompt = tokenizer(PROMPT, add_special_tokens=False).input_ids
    lead = embed(torch.tensor([bos], device=device)) if bos else soft[:0][None]
    tail = embed(torch.tensor([prompt], device=device))
    inputs = torch.cat([lead, soft[None], tail], dim=1)
    out = model(inputs_embeds=inputs, use_cache=True)
    past, logits = out.past_key_values, out.logits[0, -1]
    ids: list[int] = []
    stop = {tokenizer.eos_token_id, *tokenizer("\n", add_special_tokens=False).input_ids}
    for _ in range(max_new_tokens):
        nxt = int(torch.argmax(logits))
        if nxt in stop:
            break
        ids.append(nxt)
        out = model(input_ids=torch.tensor([[nxt]], device=device), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
    return tokenizer.decode(ids, skip_special_tokens=True).strip()
