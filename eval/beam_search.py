"""Greedy and beam search over a step function, jit-compatible with a fixed maximum length.

Both take `step_fn(tokens_N, cache) -> (logits_NxV, cache)`: the next-token logits of N
rows given each row's latest token, and the state the model carries between steps (e.g.
a KV cache plus a step counter). Every cache leaf with a leading dimension of N rows is
reordered with its beam; scalar leaves (step counters) are left alone. Nothing here
knows about the model.

Beam search keeps `beam_size` live hypotheses per example. Each step ranks the
2 x beam_size best extensions: those ending in EOS among the top beam_size ranks finish
(fairseq's rule, so beam_size=1 is exactly greedy), the best beam_size others stay live.
A finished hypothesis scores log p(y) / lp(|y|) with GNMT's length penalty
lp(n) = ((5 + n) / 6) ** alpha (Wu et al. 2016; alpha=0: the plain sum of token
log-probs, EOS included). The search stops once no live hypothesis can beat the worst
finished one (alpha >= 0: log-probs only fall, and lp is largest at max_len), or at
max_len; slots left empty by finished hypotheses get the best live ones (cut at max_len).
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

StepFn = Callable[[jax.Array, Any], tuple[jax.Array, Any]]
NEG_INF = -1.0e7  # finite, so sums of it stay ordered and never produce NaN


def length_penalty(length: jax.Array, alpha: float) -> jax.Array:
  """GNMT/T5 brevity penalty ((5 + length) / 6) ** alpha."""
  return ((5.0 + length.astype(jnp.float32)) / 6.0) ** alpha


def greedy_token(scores_NxV: jax.Array) -> jax.Array:
  """THE greedy choice, int32 argmax over the vocabulary (first index on ties): used by
  greedy_search here and by eval/sampling.py's temperature-0 path (sample_token, which its
  compiled decode loop calls), so every greedy decoder picks tokens by this one rule."""
  return jnp.argmax(scores_NxV, axis=-1).astype(jnp.int32)


def greedy_search(step_fn: StepFn, cache: Any, batch_size: int, *, max_len: int,
                  start_id: int, eos_id: int, pad_id: int = 0
                  ) -> tuple[jax.Array, jax.Array]:
  """(tokens [B, max_len], log-prob sums [B]): argmax each step; rows stop after EOS.

  Tokens after a row's EOS are pad_id; the score counts the tokens up to EOS included.

  Two greedy loops remain, sharing greedy_token: this one (a step function from a start
  token, e.g. the encoder-decoder's cross-attention cache, with log-prob scores) and
  eval/sampling.py's compiled loop (prefill of left-padded prompts, context shift, stop
  sequences, streaming), whose state neither needs nor fits the other. beam_search with
  beam_size=1 gives the same tokens but is not used for greedy: each step it ranks 2
  candidates and gathers every cache leaf to reorder beams, and with alpha > 0 its score
  is length-penalised, where this one returns the plain log-prob sum.
  """
  def cond(state):
    i, _, done, _, _ = state
    return (i < max_len) & ~jnp.all(done)

  def body(state):
    i, tokens, done, scores, cache = state
    logits, cache = step_fn(tokens[:, i], cache)
    logp_BxV = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    nxt = greedy_token(logp_BxV)
    scores = scores + jnp.where(done, 0.0, jnp.take_along_axis(logp_BxV, nxt[:, None], 1)[:, 0])
    tokens = tokens.at[:, i + 1].set(jnp.where(done, pad_id, nxt))
    return i + 1, tokens, done | (nxt == eos_id), scores, cache

  tokens = jnp.full((batch_size, max_len + 1), pad_id, jnp.int32).at[:, 0].set(start_id)
  state = (jnp.zeros((), jnp.int32), tokens, jnp.zeros(batch_size, bool),
           jnp.zeros(batch_size, jnp.float32), cache)
  _, tokens, _, scores, _ = jax.lax.while_loop(cond, body, state)
  return tokens[:, 1:], scores


def _take(x_BxMx: jax.Array, idx_BxK: jax.Array) -> jax.Array:
  """x[b, idx[b, j]] for every b, j: [B, M, ...] -> [B, K, ...]."""
  idx = idx_BxK.reshape(idx_BxK.shape + (1,) * (x_BxMx.ndim - 2))
  return jnp.take_along_axis(x_BxMx, idx, axis=1)


def _reorder_rows(x: jax.Array, beam_idx_BxK: jax.Array) -> jax.Array:
  """A cache leaf's rows [B * K, ...] (example-major) reordered to their new beams."""
  b, k = beam_idx_BxK.shape
  if x.ndim == 0 or x.shape[0] != b * k:
    return x  # step counters and other state shared by all rows
  return _take(x.reshape(b, k, *x.shape[1:]), beam_idx_BxK).reshape(x.shape)


def beam_search(step_fn: StepFn, cache: Any, batch_size: int, *, beam_size: int,
                max_len: int, start_id: int, eos_id: int, alpha: float = 0.0,
                pad_id: int = 0) -> tuple[jax.Array, jax.Array]:
  """(tokens [B, K, max_len], scores [B, K]), best first; K = beam_size.

  `cache` holds B * K rows (each example's rows repeated K times, example-major);
  step_fn sees N = B * K rows. Tokens after EOS are pad_id.
  """
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1, got {beam_size}")
  if alpha < 0:
    raise ValueError(f"length penalty alpha must be >= 0, got {alpha}")
  b, k, length = batch_size, beam_size, max_len + 1
  rank_K2 = jnp.arange(2 * k)
  max_lp = length_penalty(jnp.asarray(max_len), alpha)

  def cond(state):
    i, _, live_logp, _, fin_scores, _ = state
    best_live = live_logp[:, 0] / max_lp
    return (i < max_len) & ~jnp.all(fin_scores[:, -1] >= best_live)

  def body(state):
    i, live_seqs, live_logp, fin_seqs, fin_scores, cache = state
    logits, cache = step_fn(live_seqs[:, :, i].reshape(b * k), cache)
    logp_BxKxV = jax.nn.log_softmax(logits.astype(jnp.float32), -1).reshape(b, k, -1)
    v = logp_BxKxV.shape[-1]
    cand_BxKV = (live_logp[:, :, None] + logp_BxKxV).reshape(b, k * v)
    top_logp, top_idx = jax.lax.top_k(cand_BxKV, 2 * k)
    beam_idx, tok = top_idx // v, (top_idx % v).astype(jnp.int32)
    top_seqs = _take(live_seqs, beam_idx).at[:, :, i + 1].set(tok)
    is_eos = tok == eos_id
    # finish: EOS among the top-k ranks only
    new_fin = jnp.where(is_eos & (rank_K2 < k)[None],
                        top_logp / length_penalty(i + 1, alpha), NEG_INF)
    all_scores = jnp.concatenate([fin_scores, new_fin], axis=1)
    all_seqs = jnp.concatenate([fin_seqs, top_seqs], axis=1)
    fin_scores, keep = jax.lax.top_k(all_scores, k)
    fin_seqs = _take(all_seqs, keep)
    # stay live: the best k that did not end
    live_logp, live_pos = jax.lax.top_k(jnp.where(is_eos, NEG_INF, top_logp), k)
    live_seqs = _take(top_seqs, live_pos)
    source_beam = jnp.take_along_axis(beam_idx, live_pos, axis=1)
    cache = jax.tree.map(lambda x: _reorder_rows(x, source_beam), cache)
    return i + 1, live_seqs, live_logp, fin_seqs, fin_scores, cache

  seqs = jnp.full((b, k, length), pad_id, jnp.int32).at[:, :, 0].set(start_id)
  live_logp = jnp.tile(jnp.asarray([0.0] + [NEG_INF] * (k - 1), jnp.float32), (b, 1))
  fin_scores = jnp.full((b, k), NEG_INF, jnp.float32)
  state = (jnp.zeros((), jnp.int32), seqs, live_logp, seqs, fin_scores, cache)
  i, live_seqs, live_logp, fin_seqs, fin_scores, _ = jax.lax.while_loop(cond, body, state)
  # Slots no hypothesis finished in are filled by the best live ones (cut at max_len).
  all_scores = jnp.concatenate([fin_scores, live_logp / length_penalty(i, alpha)], axis=1)
  scores, best = jax.lax.top_k(all_scores, k)
  seqs = _take(jnp.concatenate([fin_seqs, live_seqs], axis=1), best)
  return seqs[:, :, 1:], scores
