"""THE attention kernel of attnlab, and the Linen module that calls it.

Every model family (GPT decoder, BERT encoder, encoder-decoder) computes attention
through `dot_product_attention`; nothing else in `model/` applies a softmax to scores.
Shape suffixes follow nanodo: B batch, T query length, S key length, N query heads,
K key/value heads, G = N // K query heads per kv head, H head dim, D model dim,
L cache length.

KV cache (autoregressive decoding), the API every decoder stack shares:
- `MultiHeadAttention(..., decode=True)` on SELF-attention keeps Linen `cache` variables
  `cached_key`/`cached_value` [B, L, K, H] (sized by kv heads, so GQA/MQA caches shrink by
  N/K) and `cache_index` (a scalar shared by the batch: the next slot to write).
- Create the cache by initialising the model with `decode=True` on a [B, L] input: the
  variables take that shape and start empty (`decoder.init_cache` does this abstractly).
- Each later call writes its T new keys/values at `cache_index` (T = the whole prompt for
  prefill, then 1 per step; the caller keeps `cache_index + T <= L`), advances the index,
  and attends over all L slots: slot j is visible to the i-th new query iff
  j <= cache_index + i (causal=False: iff j < cache_index + T, so the chunk attends to
  itself bidirectionally: a prefix LM's prefill), AND-ed with the caller's `mask`
  broadcastable to [B, N, T, L] (e.g. left padding of batched prompts: False on a row's
  pad slots). Positions (RoPE,
  learned, sinusoidal) are the caller's `q_positions`, so rows may sit at different
  positions in the same slot (left padding).
- Apply with `mutable=["cache"]` and feed the returned cache to the next call.
- CROSS-attention (`kv_BxSxD` given) keeps no cache: its keys/values are recomputed from the
  encoder output at every decode call (pass the same `encoded_BxSxD` each step).
"""
from __future__ import annotations

import functools
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import dropout as dropout_lib
from model import matmul
from model import positions as positions_lib

IMPLEMENTATIONS = ("xla", "jax", "cudnn")


def make_attention_mask(
    q_segment_ids: Optional[jax.Array] = None,
    kv_segment_ids: Optional[jax.Array] = None,
    kv_padding: Optional[jax.Array] = None,
) -> Optional[jax.Array]:
  """Boolean mask [B, 1, T, S] (True = may attend) from segment ids and key padding.

  Segment ids give packed documents (0 = padding); queries attend only to keys of
  their own document. `kv_padding` [B, S] marks valid keys with True.
  """
  mask = None
  if q_segment_ids is not None:
    kv = q_segment_ids if kv_segment_ids is None else kv_segment_ids
    mask = (q_segment_ids[:, None, :, None] == kv[:, None, None, :]) & (
        kv[:, None, None, :] != 0)
  if kv_padding is not None:
    pad = kv_padding.astype(bool)[:, None, None, :]
    mask = pad if mask is None else mask & pad
  return mask


def prefix_lm_mask(prefix_BxT: jax.Array, mask: Optional[jax.Array] = None) -> jax.Array:
  """[B, 1, T, T]: causal, plus every prefix key (prefix_BxT True) to every query, AND-ed
  with `mask` (e.g. make_attention_mask's segments, so a prefix stays in its document)."""
  t = prefix_BxT.shape[1]
  visible = _causal_mask(t, t) | prefix_BxT.astype(bool)[:, None, None, :]
  return visible if mask is None else visible & mask


def _causal_mask(t: int, s: int, q_offset: int = 0) -> jax.Array:
  """[1, 1, T, S]: query i (at absolute position q_offset + i) sees keys j <= that."""
  q_pos = jnp.arange(t)[:, None] + q_offset
  return (jnp.arange(s)[None, :] <= q_pos)[None, None]


def dot_product_attention(
    q_BxTxNxH: jax.Array,
    k_BxSxKxH: jax.Array,
    v_BxSxKxH: jax.Array,
    *,
    bias: Optional[jax.Array] = None,
    mask: Optional[jax.Array] = None,
    causal: bool = False,
    scale: Optional[float] = None,
    dropout_rate: float = 0.0,
    dropout_rng: Optional[jax.Array] = None,
    deterministic: bool = True,
    implementation: str = "xla",
) -> jax.Array:
  """softmax(q kᵀ · scale + bias, masked) v, with GQA/MQA when K < N.

  Args:
    q_BxTxNxH, k_BxSxKxH, v_BxSxKxH: queries, keys, values; N must be a multiple of K.
    bias: additive logits bias broadcastable to [B, N, T, S] (e.g. relative positions).
    mask: boolean, broadcastable to [B, N, T, S]; True = may attend.
    causal: also mask keys after each query (aligned to the end when S > T, as when
      decoding with a cache).
    scale: logits scale; None means 1/sqrt(H).
    dropout_rate, dropout_rng, deterministic: dropout on the attention weights.
    implementation: 'xla' (the reference, einsum + float32 softmax), 'jax'
      (`jax.nn.dot_product_attention`, XLA lowering) or 'cudnn' (the same call with cuDNN's
      fused flash attention, GPU only, bf16/fp16); both must agree with the reference.

  Returns:
    [B, T, N, H] in q's dtype. Rows whose keys are all masked give zeros, not NaN.
  """
  b, t, n, h = q_BxTxNxH.shape
  s, k_heads = k_BxSxKxH.shape[1], k_BxSxKxH.shape[2]
  if n % k_heads:
    raise ValueError(f"num_heads={n} must be a multiple of num_kv_heads={k_heads}")
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(
        f"unknown attention implementation {implementation!r}; use one of {IMPLEMENTATIONS}")
  scale = h ** -0.5 if scale is None else scale
  causal_mask = _causal_mask(t, s, q_offset=s - t) if causal else None
  use_dropout = dropout_rate > 0.0 and not deterministic

  if implementation in ("jax", "cudnn"):
    if use_dropout:
      raise ValueError("attention dropout needs implementation='xla' "
                       "(jax.nn.dot_product_attention has no dropout)")
    # Square causal attention goes in as is_causal (no mask tensor: cuDNN flash can run).
    native_causal = causal and t == s
    call_mask = mask if native_causal else _and(mask, causal_mask)
    full_mask = None if call_mask is None else jnp.broadcast_to(call_mask, (b, n, t, s))
    full_bias = None if bias is None else jnp.broadcast_to(bias, (b, n, t, s))
    out = jax.nn.dot_product_attention(
        q_BxTxNxH, k_BxSxKxH, v_BxSxKxH, bias=full_bias, mask=full_mask, scale=scale,
        is_causal=native_causal, implementation="cudnn" if implementation == "cudnn" else None)
    if mask is not None:  # rows with no visible key: zeros, as the reference gives
      visible = jnp.broadcast_to(_and(mask, causal_mask), (b, n, t, s))
      any_key_BxTxN = jnp.any(visible, axis=-1).transpose(0, 2, 1)
      out = jnp.where(any_key_BxTxN[..., None], out, 0).astype(out.dtype)
    return out

  # Only a caller's mask can hide every key of a row (causal alone leaves the diagonal).
  rows_may_be_empty = mask is not None
  mask = _and(mask, causal_mask)
  g = n // k_heads
  q_BxTxKxGxH = q_BxTxNxH.reshape(b, t, k_heads, g, h)
  logits_BxKxGxTxS = matmul.einsum("btkgh,bskh->bkgts", q_BxTxKxGxH, k_BxSxKxH,
                                   out_dtype=jnp.float32) * scale
  if bias is not None:
    logits_BxKxGxTxS += _to_groups(bias.astype(jnp.float32), k_heads, g)
  if mask is not None:
    mask_g = _to_groups(mask, k_heads, g)
    logits_BxKxGxTxS = jnp.where(mask_g, logits_BxKxGxTxS, jnp.finfo(jnp.float32).min)
  if use_dropout:
    dropout_lib.check_rate(dropout_rate)
    seeds = dropout_lib.draw_seeds(dropout_rng)
  else:
    dropout_rate, seeds = 0.0, None
  out_BxTxKxGxH = _softmax_values(dropout_rate, logits_BxKxGxTxS,
                                  mask_g if rows_may_be_empty else None, seeds, v_BxSxKxH)
  return out_BxTxKxGxH.reshape(b, t, n, h)


def _weights(rate, logits, keep_rows, seeds):
  """softmax over S; zero where keep_rows is False (a fully masked row's softmax is
  uniform); dropout under `seeds`. Returns the weights before and after dropout."""
  weights = jax.nn.softmax(logits, axis=-1)
  if keep_rows is not None:
    weights = jnp.where(keep_rows, weights, 0.0)
  return weights, dropout_lib.with_seeds(weights, seeds, rate)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _softmax_values(rate: float, logits_BxKxGxTxS: jax.Array, keep_rows: Optional[jax.Array],
                    seeds: Optional[jax.Array], v_BxSxKxH: jax.Array) -> jax.Array:
  """dropout(softmax(logits)) @ v, [B, T, K, G, H] in v's dtype, with its backward written
  out: dV = Pᵀ dO, dP = dropout(dO Vᵀ), dlogits = P (dP - Σ_s dP P), the dropout mask
  replayed from its seeds. On XLA:CPU, autodiff of the same forward (softmax's JVP, the
  where, dropout, einsum) compiled to a slower backward: the attention core's forward and
  backward took 2.2-2.4 -> 1.7 ms at the small shakespeare_char shape and 383-392 -> 351-357
  ms at the large one (experiments/bench/RESULTS.md)."""
  return _softmax_values_fwd(rate, logits_BxKxGxTxS, keep_rows, seeds, v_BxSxKxH)[0]


def _softmax_values_fwd(rate, logits, keep_rows, seeds, v):
  weights, dropped = _weights(rate, logits, keep_rows, seeds)
  out = matmul.einsum("bkgts,bskh->btkgh", dropped.astype(v.dtype), v)
  return out, (weights, keep_rows, seeds, v)


def _softmax_values_bwd(rate, res, d_out_BxTxKxGxH):
  weights, keep_rows, seeds, v = res
  dropped = dropout_lib.with_seeds(weights, seeds, rate)
  d_v = matmul.einsum("btkgh,bkgts->bskh", d_out_BxTxKxGxH, dropped.astype(v.dtype))
  d_dropped = matmul.einsum("btkgh,bskh->bkgts", d_out_BxTxKxGxH, v, jnp.float32)
  d_weights = dropout_lib.with_seeds(d_dropped, seeds, rate)
  d_logits = weights * (d_weights - jnp.sum(d_weights * weights, axis=-1, keepdims=True))
  return d_logits, None, None, d_v


_softmax_values.defvjp(_softmax_values_fwd, _softmax_values_bwd)


def _and(a: Optional[jax.Array], b: Optional[jax.Array]) -> Optional[jax.Array]:
  """Logical and of two optional masks (None = everything visible)."""
  if a is None or b is None:
    return a if b is None else b
  return jnp.logical_and(a, b)


def _to_groups(x_BxNxTxS: jax.Array, k_heads: int, g: int) -> jax.Array:
  """Reshape a [B|1, N|1, T|1, S|1] mask/bias to broadcast against [B, K, G, T, S]."""
  x = jnp.asarray(x_BxNxTxS)
  while x.ndim < 4:
    x = x[None]
  if x.shape[1] == 1:
    return x[:, :, None]
  return x.reshape(x.shape[0], k_heads, g, *x.shape[2:])


class MultiHeadAttention(nn.Module):
  """q/k/v/o projections around `dot_product_attention`; self- or cross-attention.

  Params carry logical axis names so mesh rules can shard them (DESIGN.md). decode=True
  turns on the KV cache of self-attention (module docstring).
  """
  num_heads: int
  num_kv_heads: int
  head_dim: int
  use_bias: bool = False
  rope: bool = False
  rope_base: float = 10000.0
  attention_dropout: float = 0.0
  implementation: str = "xla"
  init_std: float = 0.02
  out_init_std: Optional[float] = None
  dtype: jnp.dtype = jnp.float32
  decode: bool = False
  scale: Optional[float] = None  # logits scale; None: 1/sqrt(head_dim) (T5: 1.0)

  def _dense(self, features: int, axes: tuple, name: str, std: float) -> nn.Dense:
    """A projection with logical axis names; head dims are fused ([D, heads*H])."""
    return nn.Dense(
        features, use_bias=self.use_bias, dtype=self.dtype, name=name,
        dot_general=matmul.dot_general,
        kernel_init=nn.with_logical_partitioning(nn.initializers.normal(std), axes),
        bias_init=nn.with_logical_partitioning(nn.initializers.zeros, axes[1:]))

  @nn.compact
  def __call__(
      self,
      x_BxTxD: jax.Array,
      kv_BxSxD: Optional[jax.Array] = None,
      *,
      mask: Optional[jax.Array] = None,
      bias: Optional[jax.Array] = None,
      causal: bool = False,
      q_positions: Optional[jax.Array] = None,
      kv_positions: Optional[jax.Array] = None,
      deterministic: bool = True,
  ) -> jax.Array:
    d = x_BxTxD.shape[-1]
    kv_BxSxD = x_BxTxD if kv_BxSxD is None else kv_BxSxD  # `is x` below: self-attention
    n, k_heads, h = self.num_heads, self.num_kv_heads, self.head_dim
    q = self._dense(n * h, ("embed", "heads"), "query", self.init_std)(x_BxTxD)
    k = self._dense(k_heads * h, ("embed", "heads"), "key", self.init_std)(kv_BxSxD)
    v = self._dense(k_heads * h, ("embed", "heads"), "value", self.init_std)(kv_BxSxD)
    q = q.reshape(*q.shape[:-1], n, h)
    k = k.reshape(*k.shape[:-1], k_heads, h)
    v = v.reshape(*v.shape[:-1], k_heads, h)
    if self.rope:
      q = positions_lib.apply_rope(q, q_positions, self.rope_base)
      k = positions_lib.apply_rope(
          k, q_positions if kv_positions is None else kv_positions, self.rope_base)
    if self.decode and kv_BxSxD is x_BxTxD:
      k, v, mask, causal = self._update_cache(k, v, mask, causal)
    dropout_rng = None
    if self.attention_dropout > 0.0 and not deterministic:
      dropout_rng = self.make_rng("dropout")
    out_BxTxNxH = dot_product_attention(
        q, k, v, bias=bias, mask=mask, causal=causal,
        dropout_rate=self.attention_dropout, dropout_rng=dropout_rng,
        deterministic=deterministic, implementation=self.implementation, scale=self.scale)
    out_std = self.init_std if self.out_init_std is None else self.out_init_std
    out_BxTxNH = out_BxTxNxH.reshape(*out_BxTxNxH.shape[:-2], n * h)
    return self._dense(d, ("heads", "embed"), "out", out_std)(out_BxTxNH)

  def _update_cache(self, k_BxTxKxH, v_BxTxKxH, mask, causal):
    """Write the new keys/values at cache_index; return the whole cache and its mask.

    On the init call that creates the cache (input [B, L]) nothing is written and the
    attention is the ordinary one over the input.
    """
    initialized = self.has_variable("cache", "cached_key")
    cached_k = self.variable("cache", "cached_key", jnp.zeros, k_BxTxKxH.shape, k_BxTxKxH.dtype)
    cached_v = self.variable("cache", "cached_value", jnp.zeros, v_BxTxKxH.shape,
                             v_BxTxKxH.dtype)
    index = self.variable("cache", "cache_index", lambda: jnp.zeros((), jnp.int32))
    if not initialized:
      return k_BxTxKxH, v_BxTxKxH, mask, causal
    b, t = k_BxTxKxH.shape[:2]
    if cached_k.value.shape[0] != b:
      raise ValueError(f"decoding batch {b} differs from the cache's batch "
                       f"{cached_k.value.shape[0]}; initialise the cache with this batch size")
    i = index.value
    start = (jnp.zeros((), jnp.int32), i, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    cached_k.value = jax.lax.dynamic_update_slice(
        cached_k.value, k_BxTxKxH.astype(cached_k.value.dtype), start)
    cached_v.value = jax.lax.dynamic_update_slice(
        cached_v.value, v_BxTxKxH.astype(cached_v.value.dtype), start)
    index.value = i + t
    length = cached_k.value.shape[1]
    # causal: query i sees slots up to its own; not causal: every slot written so far,
    # this whole chunk included (a bidirectional prefill).
    last_visible_T = i + (jnp.arange(t) if causal else jnp.full(t, t - 1))
    slot_mask_1x1xTxL = (jnp.arange(length)[None, :] <= last_visible_T[:, None])[None, None]
    return cached_k.value, cached_v.value, _and(mask, slot_mask_1x1xTxL), False
