"""Beam search for decoder LMs: eval/beam_search.py (shared with the encoder-decoder) over
the GPT's KV cache.

The prompt, all but its last token, is prefilled once into a cache of beam_size identical
rows; the search then extends the last prompt token one token per step, reordering the
cache rows with their beams. One prompt at a time; no context shift, so the prompt plus
max_new_tokens must fit model.max_len (a clear error says so).
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from eval import beam_search


def beam_generate(model: Any, params: Any, prompt: Sequence[int], *, beam_size: int,
                  max_new_tokens: int, eos_id: int, alpha: float = 0.0
                  ) -> tuple[list[int], float]:
  """(the best continuation's new tokens up to EOS, its score) for one prompt."""
  cfg = model.cfg
  if not prompt:
    raise ValueError("beam search needs a prompt of at least one token (e.g. EOS)")
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
  if len(prompt) + max_new_tokens > cfg.max_len:
    raise ValueError(
        f"prompt ({len(prompt)} tokens) + max_new_tokens ({max_new_tokens}) exceed "
        f"model.max_len={cfg.max_len}; beam search does not shift the context: shorten one")
  if getattr(cfg, "scan_layers", False):
    raise ValueError("beam search reorders cache rows by their leading axis; scanned layers "
                     "stack it on a layer axis: use model.scan_layers=False to decode")
  run = _compiled(model, beam_size, len(prompt), max_new_tokens, eos_id, alpha)
  tokens, score = run(params, jnp.asarray(prompt, jnp.int32))
  tokens = [int(t) for t in tokens]
  return (tokens[:tokens.index(eos_id)] if eos_id in tokens else tokens), float(score)


@functools.lru_cache(maxsize=8)
def _compiled(model: Any, beam_size: int, prompt_len: int, max_new_tokens: int,
              eos_id: int, alpha: float):
  from model import decoder

  k, p = beam_size, prompt_len
  length = p + max_new_tokens

  @jax.jit
  def run(params, prompt_P):
    mask_KxL = jnp.ones((k, length), bool)

    def apply(cache, tokens_KxT, positions_KxT):
      logits, variables = model.apply(
          {"params": params, "cache": cache}, tokens_KxT, positions=positions_KxT,
          decode=True, cache_mask=mask_KxL, mutable=["cache"])
      return logits[:, -1], variables["cache"]

    cache = decoder.init_cache(model, k, length)
    if p > 1:
      _, cache = apply(cache, jnp.broadcast_to(prompt_P[None, :p - 1], (k, p - 1)),
                       jnp.broadcast_to(jnp.arange(p - 1)[None], (k, p - 1)))

    def step(tokens_K, state):
      logits, kv = apply(state["kv"], tokens_K[:, None], jnp.full((k, 1), state["i"]))
      return logits, {"kv": kv, "i": state["i"] + 1}

    tokens, scores = beam_search.beam_search(
        step, {"kv": cache, "i": jnp.int32(p - 1)}, 1, beam_size=k,
        max_len=max_new_tokens, start_id=prompt_P[p - 1], eos_id=eos_id, alpha=alpha)
    return tokens[0, 0], scores[0, 0]

  return run


def beam_from_workdir(workdir: str, prompt: str, *, beam_size: int, max_new_tokens: int,
                      alpha: float = 0.0, step: int | None = None) -> str:
  """The best continuation of `prompt` by a trained run (checkpoint `step`, default latest)."""
  from eval import restore as restore_lib
  from train import partitioning

  restored = restore_lib.restore_params(workdir, step)
  exp = restored.exp
  tok = exp.tokenizer
  ids = tok.encode(prompt) if prompt else []
  if exp.config.data.add_eos or not ids:  # as sampling.generate_text starts a row
    ids = [tok.eos_id] + ids
  with partitioning.mesh_context(exp.mesh, exp.rules):
    new, _ = beam_generate(exp.model, restored.params, ids, beam_size=beam_size,
                           max_new_tokens=max_new_tokens, eos_id=tok.eos_id, alpha=alpha)
  return tok.decode(new)
