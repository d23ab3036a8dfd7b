"""Fine-tuning heads: small modules around a pretrained backbone (encoder or GPT decoder).

Params are `{"backbone": <the pretrained model's own tree>, "head": {...}}` (a policy with
a value head: "value_head"), so a pretrained run's params drop into "backbone" unchanged
(train/init_from.py) and only the head starts fresh.
"""
from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import decoder
from model import dropout as dropout_lib
from model import encoder
from model import layers

BACKBONE = "backbone"  # param subtree of the pretrained model
HEAD = "head"  # param subtree a fine-tuning run creates
VALUE_HEAD = "value_head"  # param subtree of a policy's value head (PolicyWithValue)
POOLINGS = ("cls", "last", "mean")  # first token (encoders), last non-pad, mean of non-pad


def backbone_hidden(backbone: nn.Module, tokens_BxT: jax.Array,
                    token_types: Optional[jax.Array], deterministic: bool) -> jax.Array:
  """Final hidden states [B, T, D] of any Transformer family (pad id 0 is masked/ignored)."""
  if isinstance(backbone, decoder.Decoder):  # causal: right padding never reaches a token
    return backbone(tokens_BxT, deterministic=deterministic, return_hidden=True)
  kwargs = {} if token_types is None else {"token_types": token_types}
  if isinstance(backbone, encoder.Encoder):
    return backbone(tokens_BxT, heads=(), deterministic=deterministic, **kwargs)["hidden"]
  if isinstance(backbone, encoder.Electra):  # the discriminator, as ELECTRA fine-tunes
    return backbone(tokens_BxT, deterministic=deterministic, **kwargs)["hidden"]
  raise ValueError(f"fine-tuning heads need a Transformer backbone (gpt, bert, electra), "
                   f"not {type(backbone).__name__}")


def pool(hidden_BxTxD: jax.Array, valid_BxT: jax.Array, pooling: str) -> jax.Array:
  """One vector per row: the first token, the last valid token, or the mean of valid ones."""
  if pooling == "cls":
    return hidden_BxTxD[:, 0]
  valid = valid_BxT.astype(jnp.float32)
  if pooling == "last":
    last_B = jnp.maximum(jnp.sum(valid, axis=1).astype(jnp.int32) - 1, 0)
    return jnp.take_along_axis(hidden_BxTxD, last_B[:, None, None], axis=1)[:, 0]
  if pooling == "mean":
    total_BxD = jnp.sum(hidden_BxTxD * valid[..., None].astype(hidden_BxTxD.dtype), axis=1)
    return total_BxD / jnp.maximum(jnp.sum(valid, axis=1, keepdims=True), 1.0).astype(
        total_BxD.dtype)
  raise ValueError(f"unknown task.pooling={pooling!r}; choose one of {', '.join(POOLINGS)}")


class _Head(nn.Module):
  """dropout -> [tanh dense (BERT's pooler)] -> dropout -> linear to num_classes."""
  cfg: layers.TransformerConfig
  num_classes: int
  dropout: float
  pooler: bool

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
    if self.pooler:
      x = jnp.tanh(layers.dense(self.cfg.d_model, ("embed", None), self.cfg, "pooler")(x))
    x = dropout_lib.Dropout(self.dropout)(x, deterministic=deterministic)
    return layers.dense(self.num_classes, ("embed", None), self.cfg, "out")(x).astype(
        jnp.float32)


class Classifier(nn.Module):
  """tokens [B, T] -> class logits (float32): [B, C] from a pooled backbone state, or
  [B, T, C] per token when pooling is None (token classification, e.g. BIO tags)."""
  backbone: nn.Module
  num_classes: int
  pooling: Optional[str] = "cls"
  dropout: float = 0.1

  @property
  def cfg(self) -> layers.TransformerConfig:
    return self.backbone.cfg

  @nn.compact
  def __call__(self, tokens_BxT: jax.Array, *, token_types: Optional[jax.Array] = None,
               deterministic: bool = True) -> jax.Array:
    hidden_BxTxD = backbone_hidden(self.backbone, tokens_BxT, token_types, deterministic)
    if self.pooling is None:
      hidden_BxTxD = dropout_lib.Dropout(self.dropout)(hidden_BxTxD, deterministic=deterministic)
      return _Head(self.cfg, self.num_classes, 0.0, pooler=False, name=HEAD)(
          hidden_BxTxD, deterministic)
    pooled_BxD = pool(hidden_BxTxD, tokens_BxT != 0, self.pooling)
    return _Head(self.cfg, self.num_classes, self.dropout, pooler=True, name=HEAD)(
        pooled_BxD, deterministic)


class PolicyWithValue(nn.Module):
  """A causal LM (a Decoder, under "backbone") with a scalar value per token (under
  "value_head": a linear map of the final hidden state, float32). Called as the backbone
  is, it returns the backbone's logits, unchanged (so it samples, KV cache included, like
  the LM alone); with_values=True returns (logits [B, T, V], values [B, T]) from the one
  forward. The head is always applied (init creates its params; unused, XLA drops it)."""
  backbone: nn.Module

  @property
  def cfg(self) -> layers.TransformerConfig:
    return self.backbone.cfg

  @nn.compact
  def __call__(self, tokens_BxT: jax.Array, *, positions: Optional[jax.Array] = None,
               segment_ids: Optional[jax.Array] = None, deterministic: bool = True,
               decode: bool = False, cache_mask: Optional[jax.Array] = None,
               with_values: bool = False) -> Any:
    logits_BxTxV, hidden_BxTxD = self.backbone(
        tokens_BxT, positions=positions, segment_ids=segment_ids, deterministic=deterministic,
        decode=decode, cache_mask=cache_mask, with_hidden=True)
    values_BxT = layers.dense(1, ("embed", None), self.cfg, VALUE_HEAD)(
        hidden_BxTxD).astype(jnp.float32)[..., 0]
    return (logits_BxTxV, values_BxT) if with_values else logits_BxTxV


def _check_head(task: Any) -> None:
  """The task.* keys every classifier head reads (config.task)."""
  if task.num_classes < 2:
    raise ValueError(f"task.num_classes must be at least 2, got {task.num_classes}")
  layers.check(0 <= task.head_dropout < 1, "task.head_dropout", task.head_dropout,
               "must be in [0, 1)", "0 disables it")


def token_classifier(backbone: nn.Module, task: Any) -> nn.Module:
  """A tag per token: the head on every hidden state (task is config.task)."""
  _check_head(task)
  return Classifier(backbone, task.num_classes, None, task.head_dropout)


def sequence_classifier(backbone: nn.Module, task: Any, family: str) -> nn.Module:
  """A label per row: the head on the hidden states pooled by task.pooling."""
  _check_head(task)
  if task.pooling not in POOLINGS:
    raise ValueError(f"unknown task.pooling={task.pooling!r}; choose one of "
                     f"{', '.join(POOLINGS)}")
  if task.pooling == "cls" and family == "gpt":
    raise ValueError("task.pooling='cls' reads the first token, which a causal decoder "
                     "computes without seeing the rest; use 'last' or 'mean' for gpt")
  return Classifier(backbone, task.num_classes, task.pooling, task.head_dropout)
