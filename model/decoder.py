"""GPT-style decoder-only language model: embed, causal TransformerBlocks, logits.

Decoding with the KV cache (API in model/attention.py's docstring):
  cache = init_cache(model, batch, length)             # empty, length <= max_len slots
  logits, vars = model.apply({"params": p, "cache": cache}, prompt_BxP, decode=True,
                             positions=pos_BxP, cache_mask=valid_BxL, mutable=["cache"])
  logits, vars = model.apply({"params": p, "cache": vars["cache"]}, token_Bx1, decode=True,
                             positions=pos_Bx1, cache_mask=valid_BxL, mutable=["cache"])
`cache_mask` marks the cache slots that hold real tokens (False on left padding).
`blocks.block_stack(..., decode=True)` is the same for any stack of causal blocks (the
encoder-decoder's decoder passes `encoded`/`cross_mask` too; cross-attention recomputes its
keys/values each call). Scanned layers stack the cache on the layer axis like the params.
"""
from __future__ import annotations

import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import attention
from model import blocks
from model import dropout as dropout_lib
from model import layers


class Decoder(nn.Module):
  """Causal LM (or prefix LM). tokens [B, T] -> logits [B, T, vocab] (float32).

  bidirectional_prefill: with decode=True, each chunk written to the cache (a prompt's
  prefill; 1-token steps are unaffected) attends to itself bidirectionally, as a prefix
  LM's prefix does in training under `prefix_mask`. Params are the same either way.
  """
  cfg: layers.TransformerConfig
  bidirectional_prefill: bool = False

  @nn.compact
  def __call__(
      self,
      tokens_BxT: jax.Array,
      *,
      positions: Optional[jax.Array] = None,
      segment_ids: Optional[jax.Array] = None,
      deterministic: bool = True,
      return_hidden: bool = False,
      with_hidden: bool = False,
      decode: bool = False,
      cache_mask: Optional[jax.Array] = None,
      prefix_mask: Optional[jax.Array] = None,
  ) -> jax.Array:
    """return_hidden gives the final hidden states [B, T, D] instead of logits (heads);
    with_hidden gives (logits, hidden states) from the one forward (a head beside the LM's).

    decode=True: KV-cache decoding (module docstring); positions are then required and
    cache_mask [B, L] (True = the slot holds a real token) replaces segment_ids.
    prefix_mask [B, T] (True on a prefix LM's prefix, not with decode): every token also
    sees the prefix tokens of its own segment that come after it, so the prefix is read
    bidirectionally and the rest stays causal (Raffel et al. 2020's prefix LM).
    """
    cfg = self.cfg
    t = tokens_BxT.shape[1]
    if decode and (positions is None or segment_ids is not None):
      raise ValueError("decode=True needs explicit positions (the cache slots do not say "
                       "where a row is) and takes cache_mask instead of segment_ids")
    if t > cfg.max_len and cfg.position == "learned":
      raise ValueError(
          f"sequence length {t} exceeds model.max_len={cfg.max_len} learned positions; "
          "raise model.max_len or shorten data.seq_len")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(t)[None], tokens_BxT.shape)
    embedder = layers.Embedder(cfg, name="embed")
    x_BxTxD = embedder(tokens_BxT, positions)
    x_BxTxD = dropout_lib.Dropout(cfg.dropout)(x_BxTxD, deterministic=deterministic)
    x_BxTxD = nn.with_logical_constraint(x_BxTxD, ("batch", "length", "embed"))
    mask = None
    if segment_ids is not None:
      mask = attention.make_attention_mask(segment_ids)
    causal = not (decode and self.bidirectional_prefill)
    if prefix_mask is not None:
      if decode:
        raise ValueError("prefix_mask is for training and scoring; decode a prefix LM with "
                         "bidirectional_prefill=True")
      mask, causal = attention.prefix_lm_mask(prefix_mask, mask), False
    if decode and cache_mask is not None:
      mask = cache_mask.astype(bool)[:, None, None, :]
    x_BxTxD = blocks.block_stack(cfg, x_BxTxD, mask, positions, deterministic,
                                 causal=causal, decode=decode)
    if cfg.norm_placement == "pre":  # post-norm blocks already end in a norm
      x_BxTxD = layers.Norm(cfg, name="final_norm")(x_BxTxD)
    if return_hidden:
      return x_BxTxD
    if cfg.tie_embeddings:
      logits_BxTxV = embedder.attend(x_BxTxD)
    else:
      logits_BxTxV = layers.dense(cfg.vocab_size, ("embed", "vocab"), cfg, "lm_head")(
          x_BxTxD)
    logits_BxTxV = logits_BxTxV.astype(jnp.float32)
    return (logits_BxTxV, x_BxTxD) if with_hidden else logits_BxTxV


def init_cache(model: nn.Module, batch_size: int, length: int) -> Any:
  """An empty KV cache for `batch_size` rows of `length` slots (no params are computed)."""
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                      _cache_shapes(model, batch_size, length))


@functools.lru_cache(maxsize=16)
def _cache_shapes(model: nn.Module, batch_size: int, length: int) -> Any:
  """The cache's shapes, traced once per (model, batch, length): tracing the model's init
  costs as much as tracing a decode step, and a sampling loop asks twice (its prefill and
  its window shift)."""
  def init():
    tokens = jnp.zeros((batch_size, length), jnp.int32)
    positions = jnp.broadcast_to(jnp.arange(length)[None], tokens.shape)
    return model.init(jax.random.PRNGKey(0), tokens, positions=positions, decode=True)
  return jax.eval_shape(init)["cache"]
