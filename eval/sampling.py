"""Temperature / top-k / top-p sampling from a causal LM (no KV cache: one window per token).

Each new token runs the model on the last `max_len` tokens of every row in a fixed-shape
window, so one compile serves the whole generation. Simple and exact; the KV-cache decoder
(a later issue) must produce the same tokens for the same seed under greedy decoding.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eval import restore as restore_lib
from train import partitioning

STRATEGIES = ("greedy", "sample", "top_k", "top_p")


def filter_logits(logits_BxV: jax.Array, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> jax.Array:
  """Scale by temperature, then keep the top-k and the smallest nucleus with mass >= top_p."""
  logits = logits_BxV.astype(jnp.float32) / max(temperature, 1e-6)
  neg = jnp.finfo(jnp.float32).min
  if top_k > 0:
    kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]
    logits = jnp.where(logits < kth, neg, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    cutoff = jnp.min(jnp.where(mass_before < top_p, sorted_logits, jnp.inf), axis=-1,
                     keepdims=True)
    logits = jnp.where(logits < cutoff, neg, logits)
  return logits


def sample_token(rng: jax.Array, logits_BxV: jax.Array, temperature: float, top_k: int,
                 top_p: float) -> jax.Array:
  """Greedy when temperature == 0, else a draw from the filtered distribution."""
  if temperature == 0.0:
    return jnp.argmax(logits_BxV, axis=-1)
  return jax.random.categorical(rng, filter_logits(logits_BxV, temperature, top_k, top_p))


def generate(model: nn.Module, params: Any, prompts: Sequence[Sequence[int]], *,
             max_new_tokens: int, max_len: int, rng: jax.Array, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, eos_id: int | None = None,
             pad_id: int = 0) -> list[list[int]]:
  """Continue each prompt; rows stop at EOS. Returns only the new tokens of each row."""
  if any(len(p) == 0 for p in prompts):
    raise ValueError("every prompt needs at least one token (e.g. BOS or EOS)")
  b = len(prompts)

  @jax.jit
  def next_tokens(window_BxW, last_index_B, key):
    logits = model.apply({"params": params}, window_BxW)
    last = jnp.take_along_axis(logits, last_index_B[:, None, None], axis=1)[:, 0]
    return sample_token(key, last, temperature, top_k, top_p)

  rows = [list(p) for p in prompts]
  new = [[] for _ in range(b)]
  done = np.zeros(b, bool)
  for i in range(max_new_tokens):
    window = np.full((b, max_len), pad_id, np.int32)
    last = np.zeros(b, np.int32)
    for r, row in enumerate(rows):
      ctx = row[-max_len:]
      window[r, :len(ctx)] = ctx
      last[r] = len(ctx) - 1
    toks = np.asarray(next_tokens(window, last, jax.random.fold_in(rng, i)))
    for r in range(b):
      if done[r]:
        continue
      if eos_id is not None and toks[r] == eos_id:
        done[r] = True
        continue
      rows[r].append(int(toks[r]))
      new[r].append(int(toks[r]))
    if done.all():
      break
  return new


def strategy_settings(strategy: str, temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0) -> tuple[float, int, float]:
  """(temperature, top_k, top_p) of a named strategy; knobs of other strategies are ignored."""
  if strategy not in STRATEGIES:
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
  if strategy == "greedy":
    return 0.0, 0, 1.0
  if temperature <= 0:
    raise ValueError(f"strategy {strategy!r} needs temperature > 0, got {temperature}; "
                     "use strategy 'greedy' for argmax decoding")
  if strategy == "top_k":
    if top_k < 1:
      raise ValueError(f"strategy 'top_k' needs top_k >= 1, got {top_k}")
    return temperature, top_k, 1.0
  if strategy == "top_p":
    if not 0.0 < top_p <= 1.0:
      raise ValueError(f"strategy 'top_p' needs 0 < top_p <= 1, got {top_p}")
    return temperature, 0, top_p
  return temperature, 0, 1.0


def generate_text(exp: Any, params: Any, prompt: str, *, max_new_tokens: int,
                  num_samples: int = 1, seed: int = 0, temperature: float = 1.0,
                  top_k: int = 0, top_p: float = 1.0) -> list[str]:
  """The text each of num_samples rows adds after `prompt`; the same seed, the same text.

  exp is a train.experiment.Experiment. Rows start with EOS (a document start) when the
  run packed documents with EOS or the prompt is empty; else with the prompt alone, as a
  model that never saw EOS in training would be thrown by it.
  """
  if num_samples < 1 or max_new_tokens < 0:
    raise ValueError(f"need num_samples >= 1 and max_new_tokens >= 0, got {num_samples} "
                     f"and {max_new_tokens}")
  tok = exp.tokenizer
  ids = tok.encode(prompt) if prompt else []
  if exp.config.data.add_eos or not ids:
    ids = [tok.eos_id] + ids
  with partitioning.mesh_context(exp.mesh):
    outs = generate(
        exp.model, params, [ids] * num_samples, max_new_tokens=max_new_tokens,
        max_len=exp.model_config.max_len, rng=jax.random.PRNGKey(seed),
        temperature=temperature, top_k=top_k, top_p=top_p, eos_id=tok.eos_id,
        pad_id=tok.pad_id)
  return [tok.decode(o) for o in outs]


def generate_from_workdir(workdir: str, prompt: str, *, max_new_tokens: int,
                          strategy: str = "sample", temperature: float = 1.0,
                          top_k: int = 0, top_p: float = 1.0, num_samples: int = 1,
                          seed: int = 0, step: int | None = None) -> list[str]:
  """Continuations of `prompt` from checkpoint `step` (default latest) of a trained run."""
  temperature, top_k, top_p = strategy_settings(strategy, temperature, top_k, top_p)
  restored = restore_lib.restore_params(workdir, step)
  return generate_text(restored.exp, restored.params, prompt, max_new_tokens=max_new_tokens,
                       num_samples=num_samples, seed=seed, temperature=temperature,
                       top_k=top_k, top_p=top_p)
