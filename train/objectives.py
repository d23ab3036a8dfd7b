"""Objectives are loss functions, not model classes (DESIGN.md).

Each `make_*` returns `loss_fn(params, batch, rng, deterministic) -> (loss, metrics)`,
where metrics are SUMS (plus a `weight` count) so that they average correctly over
devices, microbatches and eval batches.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

OBJECTIVES = ("causal_lm",)
LossFn = Callable[..., tuple[jax.Array, dict]]


def token_metrics(logits_BxTxV: jax.Array, targets_BxT: jax.Array,
                  weights_BxT: jax.Array) -> dict:
  """Summed cross-entropy (float32) and correct predictions over weighted tokens."""
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxV.astype(jnp.float32), targets_BxT)
  correct = (jnp.argmax(logits_BxTxV, -1) == targets_BxT).astype(jnp.float32)
  return {"loss_sum": jnp.sum(ce * weights_BxT),
          "correct_sum": jnp.sum(correct * weights_BxT),
          "weight": jnp.sum(weights_BxT)}


def make_causal_lm(model: nn.Module, packing_mask: bool) -> LossFn:
  """Next-token cross-entropy; with packing_mask, documents do not see each other."""
  def loss_fn(params, batch, rng, deterministic: bool = False):
    kwargs = {}
    if packing_mask:
      kwargs = dict(positions=batch["positions"], segment_ids=batch["segment_ids"])
    logits = model.apply({"params": params}, batch["inputs"], deterministic=deterministic,
                         rngs={"dropout": rng}, **kwargs)
    sums = token_metrics(logits, batch["targets"], batch["weights"])
    loss = sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0)
    return loss, sums
  return loss_fn


def make_loss_fn(config: Any, model: nn.Module) -> LossFn:
  """The loss function named by config.objective."""
  if config.objective not in OBJECTIVES:
    raise ValueError(f"unknown objective={config.objective!r}; choose one of "
                     f"{', '.join(OBJECTIVES)}")
  return make_causal_lm(model, config.data.packing_mask)


def summarize(sums: dict) -> dict:
  """Turn summed metrics into means: loss, accuracy, perplexity."""
  weight = max(float(sums["weight"]), 1.0)
  loss = float(sums["loss_sum"]) / weight
  out = {"loss": loss, "accuracy": float(sums["correct_sum"]) / weight,
         "perplexity": float(jnp.exp(jnp.minimum(loss, 80.0))), "tokens": float(sums["weight"])}
  return out
