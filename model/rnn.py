"""LSTM language model: the recurrent baseline the Transformer families are compared against.

Same call signature as decoder.Decoder, so the causal_lm objective, the train step,
checkpointing and sampling use it unchanged. Built from flax's nn.RNN + OptimizedLSTMCell.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import layers


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

  @classmethod
  def from_config(cls, m: Any) -> "LSTMConfig":
    """Validate the `config.model` keys an LSTM uses; Transformer-only keys are ignored."""
    layers._check_choice("model.dtype", m.dtype, tuple(layers.DTYPES))
    layers.check_shared_keys(m)
    return cls(vocab_size=m.vocab_size, d_model=m.d_model, num_layers=m.num_layers,
               dropout=m.dropout, tie_embeddings=m.tie_embeddings, max_len=m.max_len,
               dtype=layers.DTYPES[m.dtype], init_std=m.init_std)


class _ResettingLSTMCell(nn.RNNCellBase):
  """An LSTM cell whose state restarts where the input's last feature (a flag) is 1.

  nn.RNN scans one array, so the document-start flag rides along as an extra feature;
  with it, packed documents do not see each other (data.packing_mask), as in the decoder.
  """
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, carry, x_and_flag):
    x, restart = x_and_flag[..., :-1], x_and_flag[..., -1:]
    carry = jax.tree.map(lambda c: c * (1.0 - restart).astype(c.dtype), carry)
    return nn.OptimizedLSTMCell(self.features, dtype=self.dtype, name="lstm")(carry, x)

  def initialize_carry(self, rng, input_shape):
    zeros = jnp.zeros(input_shape[:-1] + (self.features,), jnp.float32)
    return zeros, zeros

  @property
  def num_feature_axes(self) -> int:
    return 1


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
  ) -> jax.Array:
    del positions
    cfg = self.cfg
    # Unit-variance embeddings (PyTorch's nn.Embedding default): no norm rescales the
    # LSTM's input, and at std 0.02 its gates barely see the tokens (loss stalls ~unigram).
    embed = nn.Embed(
        cfg.vocab_size, cfg.d_model, dtype=cfg.dtype, name="embed",
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(1.0), ("vocab", "embed")))
    x_BxTxD = embed(tokens_BxT)
    restart_BxT = jnp.zeros(tokens_BxT.shape, x_BxTxD.dtype)
    if segment_ids is not None:  # a new document starts where the segment id changes
      changed = segment_ids[:, 1:] != segment_ids[:, :-1]
      restart_BxT = restart_BxT.at[:, 1:].set(changed.astype(x_BxTxD.dtype))
    for i in range(cfg.num_layers):
      x_BxTxD = nn.Dropout(cfg.dropout)(x_BxTxD, deterministic=deterministic)
      cell = _ResettingLSTMCell(cfg.d_model, dtype=cfg.dtype, name=f"layer_{i}")
      x_BxTxD = nn.RNN(cell, name=f"rnn_{i}")(
          jnp.concatenate([x_BxTxD, restart_BxT[..., None]], axis=-1))
    x_BxTxD = nn.Dropout(cfg.dropout)(x_BxTxD, deterministic=deterministic)
    if cfg.tie_embeddings:
      logits_BxTxV = embed.attend(x_BxTxD)
    else:
      logits_BxTxV = nn.Dense(
          cfg.vocab_size, use_bias=False, dtype=cfg.dtype, name="lm_head",
          kernel_init=nn.with_logical_partitioning(
              nn.initializers.normal(cfg.init_std), ("embed", "vocab")))(x_BxTxD)
    return logits_BxTxV.astype(jnp.float32)
