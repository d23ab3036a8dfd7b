"""LSTM language model: the recurrent baseline the Transformer families are compared against.

Same call signature as decoder.Decoder, so the causal_lm objective, the train step,
checkpointing and sampling use it unchanged; `initial_carry` / `return_carry` add the
state a stateful run carries from one window to the next (train.carry, data.contiguous).

Fast on CPU: each layer projects the whole sequence's inputs with ONE [D, 4H] matmul
before the time loop, and the loop (`lax.scan`, time-major) does one [H, 4H] recurrent
matmul per step (its pre-activations kept for the backward); the weight gradients are single matmuls over all steps (custom VJP
below), not a [H, 4H] accumulation per step. Gates in PyTorch/flax order i, f, g, o:
c' = sig(f) c + sig(i) tanh(g), h' = sig(o) tanh(c').
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from model import dropout as dropout_lib
from model import layers
from model import matmul


@dataclasses.dataclass(frozen=True)
class LSTMConfig:
  """Hyperparameters of the LSTM LM (hashable, so Linen modules can hold it)."""
  vocab_size: int
  d_model: int = 128  # embedding width = hidden size (so embeddings can be tied)
  num_layers: int = 2
  dropout: float = 0.0
  tie_embeddings: bool = True
  max_len: int = 256  # longest sequence trained on; sampling's context window
  dtype: Any = jnp.float32
  init_std: float = 0.02  # untied output layer only (embeddings are unit-variance)
  init_uniform: float = 0.0  # > 0: every param ~ U(-v, v) (Zaremba et al.'s init_weight)
  output_bias: bool = False  # a bias on the output layer (tied or not)

  @classmethod
  def from_config(cls, m: Any) -> "LSTMConfig":
    """Validate the `config.model` keys an LSTM uses; Transformer-only keys are ignored."""
    layers._check_choice("model.dtype", m.dtype, tuple(layers.DTYPES))
    layers.check_shared_keys(m)
    layers.check(m.init_uniform >= 0, "model.init_uniform", m.init_uniform,
                 "must be >= 0", "0 keeps the default init; Zaremba et al. use 0.1")
    return cls(vocab_size=m.vocab_size, d_model=m.d_model, num_layers=m.num_layers,
               dropout=m.dropout, tie_embeddings=m.tie_embeddings, max_len=m.max_len,
               dtype=layers.DTYPES[m.dtype], init_std=m.init_std,
               init_uniform=float(m.init_uniform), output_bias=bool(m.output_bias))


def zero_carry(cfg: LSTMConfig, batch: int) -> jax.Array:
  """The state a window starts from without history: [batch, layers, 2 (c, h), hidden]
  (batch first, so it shards like the batch)."""
  return jnp.zeros((batch, cfg.num_layers, 2, cfg.d_model), jnp.float32)


def _uniform(v: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -v, v)
  return init


def _blockwise(init, blocks: int):
  """`init` applied to each of `blocks` [.., H] column blocks (a per-gate init, fused)."""
  def block_init(key, shape, dtype=jnp.float32):
    h = shape[-1] // blocks
    keys = jax.random.split(key, blocks)
    return jnp.concatenate([init(k, shape[:-1] + (h,), dtype) for k in keys], axis=-1)
  return block_init


def _cell(z_Bx4H: jax.Array, c_BxH: jax.Array) -> tuple[jax.Array, jax.Array]:
  i, f, g, o = jnp.split(z_Bx4H, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c_BxH + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def _forward(xw_TxBx4H, wh_Hx4H, keep_TxB, c0_BxH, h0_BxH):
  """The time loop: (h_t for all t [T, B, H], and the (c, h) the gradient pass needs)."""
  def step(carry, inp):
    c, h = carry
    xw, keep = inp
    if keep is not None:  # a new document: zero state
      c, h = c * keep[:, None], h * keep[:, None]
    z = xw + jnp.dot(h, wh_Hx4H)
    c_new, h_new = _cell(z, c)
    return (c_new, h_new), (z, c_new, h_new, c, h)
  (c_T, h_T), (zs, cs, hs, c_prev, h_prev) = lax.scan(step, (c0_BxH, h0_BxH),
                                                      (xw_TxBx4H, keep_TxB))
  return zs, cs, hs, c_prev, h_prev, c_T, h_T


@jax.custom_vjp
def lstm_layer(xw_TxBx4H, wh_Hx4H, keep_TxB, c0_BxH, h0_BxH):
  """One LSTM layer over time (inputs already projected): (h [T, B, H], c_T, h_T).

  keep_TxB: 0 where a document starts (the state restarts there), or None (no restarts)."""
  _, _, hs, _, _, c_T, h_T = _forward(xw_TxBx4H, wh_Hx4H, keep_TxB, c0_BxH, h0_BxH)
  return hs, c_T, h_T


def _lstm_fwd(xw, wh, keep, c0, h0):
  zs, cs, hs, c_prev, h_prev, c_T, h_T = _forward(xw, wh, keep, c0, h0)
  return (hs, c_T, h_T), (zs, wh, keep, cs, c_prev, h_prev)


def _lstm_bwd(res, grads):
  """Backward through time; dWh = sum_t h_{t-1}^T dz_t as ONE matmul after the loop."""
  zs, wh, keep, cs, c_prev, h_prev = res
  dhs, dc_T, dh_T = grads

  def step(carry, inp):
    dc, dh = carry  # gradient w.r.t. c_t, h_t from later steps
    z, keep_t, c_t, cp, dh_out = inp
    i, f, g, o = jnp.split(z, 4, axis=-1)
    si, sf, tg, so = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    tc = jnp.tanh(c_t)
    dh = dh + dh_out
    do = dh * tc * so * (1 - so)
    dc = dc + dh * so * (1 - tc * tc)
    di = dc * tg * si * (1 - si)
    dg = dc * si * (1 - tg * tg)
    df = dc * cp * sf * (1 - sf)
    dz = jnp.concatenate([di, df, dg, do], axis=-1)
    dh_prev, dc_prev = jnp.dot(dz, wh.T), dc * sf
    if keep_t is not None:
      dh_prev, dc_prev = dh_prev * keep_t[:, None], dc_prev * keep_t[:, None]
    return (dc_prev, dh_prev), dz

  (dc0, dh0), dz = lax.scan(step, (dc_T, dh_T),
                            (zs, keep, cs, c_prev, dhs), reverse=True)
  dwh = lax.dot_general(h_prev, dz, (((0, 1), (0, 1)), ((), ()))).astype(wh.dtype)
  dkeep = None if keep is None else jnp.zeros_like(keep)
  return dz.astype(zs.dtype), dwh, dkeep, dc0, dh0


lstm_layer.defvjp(_lstm_fwd, _lstm_bwd)


class LSTMLanguageModel(nn.Module):
  """Causal LM. tokens [B, T] -> logits [B, T, vocab] (float32); positions are implicit."""
  cfg: LSTMConfig

  @nn.compact
  def __call__(
      self,
      tokens_BxT: jax.Array,
      *,
      positions: Optional[jax.Array] = None,  # unused: recurrence orders the tokens
      segment_ids: Optional[jax.Array] = None,
      deterministic: bool = True,
      initial_carry: Optional[jax.Array] = None,  # [B, L, 2, H] (zero_carry); None: zeros
      return_carry: bool = False,  # True: (logits, the final carry [B, L, 2, H])
  ):
    del positions
    cfg = self.cfg
    v = cfg.init_uniform
    pick = lambda default: _uniform(v) if v > 0 else default
    # Unit-variance embeddings (PyTorch's nn.Embedding default): no norm rescales the
    # LSTM's input, and at std 0.02 its gates barely see the tokens (loss stalls ~unigram).
    embed = nn.Embed(
        cfg.vocab_size, cfg.d_model, dtype=cfg.dtype, name="embed",
        embedding_init=nn.with_logical_partitioning(
            pick(nn.initializers.normal(1.0)), ("vocab", "embed")))
    batch, length = tokens_BxT.shape
    x_TxBxD = embed(tokens_BxT.T)  # time-major through the layers
    keep_TxB = None  # no document boundaries: no restarts in the time loop
    if segment_ids is not None:  # a new document starts where the segment id changes
      changed = segment_ids[:, 1:] != segment_ids[:, :-1]
      keep_TxB = jnp.ones((length, batch), cfg.dtype).at[1:].set(
          (~changed).T.astype(cfg.dtype))
    carry = zero_carry(cfg, batch) if initial_carry is None else initial_carry
    finals = []
    h4 = 4 * cfg.d_model
    for i in range(cfg.num_layers):
      x_TxBxD = dropout_lib.Dropout(cfg.dropout)(x_TxBxD, deterministic=deterministic)
      # flax OptimizedLSTMCell's defaults, per gate: lecun_normal input, orthogonal
      # recurrent kernels, zero bias (on the recurrent side only, as one bias here).
      wi = self.param(f"layer_{i}_wi", pick(nn.initializers.lecun_normal()),
                      (x_TxBxD.shape[-1], h4))
      wh = self.param(f"layer_{i}_wh", pick(_blockwise(nn.initializers.orthogonal(), 4)),
                      (cfg.d_model, h4))
      b = self.param(f"layer_{i}_b", pick(nn.initializers.zeros), (h4,))
      xw = matmul.dot_general(x_TxBxD, wi.astype(cfg.dtype), (((2,), (0,)), ((), ())))
      xw = xw + b.astype(cfg.dtype)
      c0, h0 = carry[:, i, 0].astype(cfg.dtype), carry[:, i, 1].astype(cfg.dtype)
      x_TxBxD, c_T, h_T = lstm_layer(xw, wh.astype(cfg.dtype), keep_TxB, c0, h0)
      finals.append(jnp.stack([c_T, h_T], axis=1).astype(jnp.float32))
    x_BxTxD = dropout_lib.Dropout(cfg.dropout)(x_TxBxD.transpose(1, 0, 2), deterministic=deterministic)
    if cfg.tie_embeddings:
      logits_BxTxV = embed.attend(x_BxTxD)
    else:
      logits_BxTxV = nn.Dense(
          cfg.vocab_size, use_bias=False, dtype=cfg.dtype, name="lm_head",
          dot_general=matmul.dot_general,
          kernel_init=nn.with_logical_partitioning(
              pick(nn.initializers.normal(cfg.init_std)), ("embed", "vocab")))(x_BxTxD)
    if cfg.output_bias:
      bias = self.param("output_bias", nn.with_logical_partitioning(
          pick(nn.initializers.zeros), ("vocab",)), (cfg.vocab_size,))
      logits_BxTxV = logits_BxTxV + bias.astype(cfg.dtype)
    logits_BxTxV = logits_BxTxV.astype(jnp.float32)
    if return_carry:
      return logits_BxTxV, jnp.stack(finals, axis=1)
    return logits_BxTxV
