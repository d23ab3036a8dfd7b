"""Objectives are loss functions, not model classes (DESIGN.md).

The losses that the tasks of train/tasks/ choose from. Each `make_*` returns
`loss_fn(params, batch, rng, deterministic) -> (loss, metrics)`, where metrics are SUMS
(plus a `weight` count) so that they average correctly over devices, microbatches and
eval batches.
"""
from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import optax

from model import encoder_decoder

ELECTRA_DISC_WEIGHT = 50.0  # lambda of Clark et al. 2020
_AUC_BINS = 64
LossFn = Callable[..., tuple[jax.Array, dict]]


def first_argmax(x: jax.Array) -> jax.Array:
  """jnp.argmax over the last axis (the first index of the maximum), as a max and a min
  reduction: XLA:CPU's argmax (a variadic reduce) took ~20 ms of CPU per step on a
  [400, 10k] logits array, a third of a small LSTM's train step (experiments/bench/RESULTS.md);
  this is ~6 ms. Rows holding a NaN give x.shape[-1] (no index) instead of the NaN's."""
  top = jnp.max(x, axis=-1, keepdims=True)
  index = lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
  return jnp.min(jnp.where(x == top, index, x.shape[-1]), axis=-1)


def token_metrics(logits_BxTxV: jax.Array, targets_BxT: jax.Array,
                  weights_BxT: jax.Array) -> dict:
  """Summed cross-entropy (float32) and correct predictions over weighted tokens."""
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxV.astype(jnp.float32), targets_BxT)
  correct = (first_argmax(logits_BxTxV) == targets_BxT).astype(jnp.float32)
  return {"loss_sum": jnp.sum(ce * weights_BxT),
          "correct_sum": jnp.sum(correct * weights_BxT),
          "weight": jnp.sum(weights_BxT)}


def token_logprob(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
  """log softmax(logits)[target] of every position (float32 [B, T])."""
  return -optax.softmax_cross_entropy_with_integer_labels(
      logits_BxTxV.astype(jnp.float32), targets_BxT)


def response_logprob(logits_BxTxV: jax.Array, targets_BxT: jax.Array,
                     mask_BxT: jax.Array) -> jax.Array:
  """Each row's summed log-probability (float32) of its targets where mask is 1: a
  response's log pi(y | x) when logits come from prompt + response shifted by one."""
  return jnp.sum(token_logprob(logits_BxTxV, targets_BxT) * mask_BxT, axis=-1)


def make_causal_lm(model: nn.Module, packing_mask: bool, stateful: bool = False) -> LossFn:
  """Next-token cross-entropy; with packing_mask, documents do not see each other.

  stateful (data.contiguous, recurrent models): the window starts from batch["carry"]
  (zeroed in rows whose batch["reset"] is 1; no gradient flows into it: truncated
  backprop) and the sums get "carry", the state after the window, for the next step.
  """
  def loss_fn(params, batch, rng, deterministic: bool = False):
    kwargs = {}
    if packing_mask:
      kwargs = dict(positions=batch["positions"], segment_ids=batch["segment_ids"])
    if stateful:
      keep = (1.0 - batch["reset"])[:, :, None, None]  # [B, 1] -> [B, L, 2, H]
      kwargs.update(initial_carry=jax.lax.stop_gradient(batch["carry"] * keep),
                    return_carry=True)
    out = model.apply({"params": params}, batch["inputs"], deterministic=deterministic,
                      rngs={"dropout": rng}, **kwargs)
    logits, carry = out if stateful else (out, None)
    sums = token_metrics(logits, batch["targets"], batch["weights"])
    if stateful:
      sums["carry"] = jax.lax.stop_gradient(carry)
    loss = sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0)
    return loss, sums
  return loss_fn


def _encoder_inputs(batch: dict, packing_mask: bool) -> dict:
  """Encoder kwargs: packed documents kept apart only with data.packing_mask."""
  kwargs = {}
  if packing_mask:
    kwargs = dict(positions=batch["positions"], segment_ids=batch["segment_ids"])
  if "token_types" in batch:
    kwargs["token_types"] = batch["token_types"]
  return kwargs


def pair_metrics(logits_Bx2: jax.Array, labels_Bx1: jax.Array,
                 weights_Bx1: jax.Array) -> dict:
  """NSP/SOP classifier sums under a 'pair/' prefix (labels [B, 1] shard like tokens)."""
  labels_B, weights_B = labels_Bx1[:, 0], weights_Bx1[:, 0]
  ce = optax.softmax_cross_entropy_with_integer_labels(logits_Bx2, labels_B)
  correct = (jnp.argmax(logits_Bx2, -1) == labels_B).astype(jnp.float32)
  return {"pair/loss_sum": jnp.sum(ce * weights_B),
          "pair/correct_sum": jnp.sum(correct * weights_B),
          "pair/weight": jnp.sum(weights_B)}


def make_mlm(model: nn.Module, packing_mask: bool, pair: bool) -> LossFn:
  """Masked-LM cross-entropy on the selected positions (+ the NSP/SOP loss when pair)."""
  heads = ("mlm", "pair") if pair else ("mlm",)

  def loss_fn(params, batch, rng, deterministic: bool = False):
    out = model.apply({"params": params}, batch["inputs"], heads=heads,
                      deterministic=deterministic, rngs={"dropout": rng},
                      **_encoder_inputs(batch, packing_mask))
    sums = token_metrics(out["mlm"], batch["targets"], batch["weights"])
    loss = sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0)
    if pair:
      pair_sums = pair_metrics(out["pair"], batch["pair_label"], batch["pair_weight"])
      loss += pair_sums["pair/loss_sum"] / jnp.maximum(pair_sums["pair/weight"], 1.0)
      sums.update(pair_sums)
    return loss, sums
  return loss_fn


def discriminator_metrics(logits_BxT: jax.Array, replaced_BxT: jax.Array,
                          weights_BxT: jax.Array) -> dict:
  """Replaced-token detection sums: loss, accuracy, precision/recall counts, AUC histograms.

  A token is predicted replaced when its logit > 0. Scores are binned (sigmoid into
  _AUC_BINS bins) per class, so AUC is exact up to ties within a bin and still summable.
  """
  labels = replaced_BxT.astype(jnp.float32)
  bce = optax.sigmoid_binary_cross_entropy(logits_BxT, labels)
  predicted = (logits_BxT > 0).astype(jnp.float32)
  correct = (predicted == labels).astype(jnp.float32)
  bins = jnp.clip((jax.nn.sigmoid(logits_BxT) * _AUC_BINS).astype(jnp.int32), 0,
                  _AUC_BINS - 1)
  one_hot = jax.nn.one_hot(bins, _AUC_BINS) * weights_BxT[..., None]
  return {"disc/loss_sum": jnp.sum(bce * weights_BxT),
          "disc/correct_sum": jnp.sum(correct * weights_BxT),
          "disc/weight": jnp.sum(weights_BxT),
          "disc/true_pos_count": jnp.sum(predicted * labels * weights_BxT),
          "disc/pred_pos_count": jnp.sum(predicted * weights_BxT),
          "disc/pos_count": jnp.sum(labels * weights_BxT),
          "disc/pos_hist_count": jnp.sum(one_hot * labels[..., None], axis=(0, 1)),
          "disc/neg_hist_count": jnp.sum(one_hot * (1.0 - labels[..., None]), axis=(0, 1))}


def make_electra(model: nn.Module, packing_mask: bool,
                 disc_weight: float = ELECTRA_DISC_WEIGHT) -> LossFn:
  """Generator MLM + disc_weight x replaced-token detection, both in one step.

  Masked positions are refilled with samples from the generator's softmax (no gradient
  through sampling); the discriminator labels a token replaced only if it changed, and
  its loss covers every non-pad position. A large disc_weight at a high learning rate
  can stall a tiny generator: the shared embeddings then follow the discriminator
  (measured in tests/test_encoder_objectives.py's setting, lr 1e-2: generator accuracy
  stays at the most frequent token's 0.128 for 250 steps at 50; 0.22 after 150 at 1).
  """
  if disc_weight <= 0:
    raise ValueError(f"train.electra_disc_weight must be positive, got {disc_weight}")

  def loss_fn(params, batch, rng, deterministic: bool = False):
    dropout_rng, sample_rng = jax.random.split(rng)
    kwargs = _encoder_inputs(batch, packing_mask)
    variables = {"params": params}
    gen = model.apply(variables, batch["inputs"], method="generate",
                      deterministic=deterministic, rngs={"dropout": dropout_rng}, **kwargs)
    gen_sums = token_metrics(gen["mlm"], batch["targets"], batch["weights"])
    sampled = jax.random.categorical(sample_rng, jax.lax.stop_gradient(gen["mlm"]))
    corrupted = jnp.where(batch["weights"] > 0, sampled, batch["targets"])
    disc = model.apply(variables, corrupted, deterministic=deterministic,
                       rngs={"dropout": dropout_rng}, **kwargs)
    non_pad = (batch["targets"] != 0).astype(jnp.float32)
    disc_sums = discriminator_metrics(disc["rtd"], corrupted != batch["targets"], non_pad)
    gen_loss = gen_sums["loss_sum"] / jnp.maximum(gen_sums["weight"], 1.0)
    disc_loss = disc_sums["disc/loss_sum"] / jnp.maximum(disc_sums["disc/weight"], 1.0)
    loss = gen_loss + disc_weight * disc_loss
    sums = {f"gen/{k}": v for k, v in gen_sums.items()}
    sums.update(disc_sums, loss_sum=loss * disc_sums["disc/weight"],
                weight=disc_sums["disc/weight"])
    return loss, sums
  return loss_fn


def smoothed_cross_entropy(logits_BxTxV: jax.Array, targets_BxT: jax.Array,
                           label_smoothing: float) -> jax.Array:
  """Cross-entropy against (1 - ls) on the target and ls / (V - 1) elsewhere, minus that
  distribution's entropy so a perfect prediction scores 0 (Szegedy et al. 2016; T5X)."""
  v = logits_BxTxV.shape[-1]
  confidence, low = 1.0 - label_smoothing, label_smoothing / (v - 1)
  soft = jax.nn.one_hot(targets_BxT, v) * (confidence - low) + low
  entropy = -(confidence * np.log(confidence) + (v - 1) * low * np.log(low + 1e-20))
  return optax.softmax_cross_entropy(logits_BxTxV.astype(jnp.float32), soft) - entropy


PACKED_KEYS = ("inputs_segment_ids", "inputs_positions", "targets_segment_ids",
               "targets_positions")


def exact_examples(wrong_BxT: jax.Array, segment_ids_BxT: jax.Array
                   ) -> tuple[jax.Array, jax.Array]:
  """(examples with no wrong token, examples): examples are the rows' segments 1, 2, ...

  One example per row is segment 1 on its target tokens; packed rows hold several.
  """
  b, t = segment_ids_BxT.shape
  rows = jnp.arange(b)[:, None]
  present = jnp.zeros((b, t + 1), bool).at[rows, segment_ids_BxT].set(True)
  failed = jnp.zeros((b, t + 1), bool).at[rows, segment_ids_BxT].max(wrong_BxT)
  present, failed = present[:, 1:], failed[:, 1:]  # segment 0 is padding
  return (jnp.sum(present & ~failed).astype(jnp.float32),
          jnp.sum(present).astype(jnp.float32))


def make_seq2seq(model: nn.Module, label_smoothing: float = 0.0) -> LossFn:
  """Teacher-forced cross-entropy on target tokens (padding masked out by weights).

  Used by seq2seq and span_corruption (which differ only in their data). The optimised
  loss is label-smoothed; the logged loss/perplexity/accuracy are the plain ones (and
  smoothed_loss), and seq/exact_match counts targets whose every token is predicted
  right, which under teacher forcing equals greedy decoding being exactly right.
  """
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"train.label_smoothing must be in [0, 1), got {label_smoothing}")
  start_id = model.opts.decoder_start_id

  def loss_fn(params, batch, rng, deterministic: bool = False):
    targets, weights = batch["targets"], batch["weights"]
    packed = {k: batch[k] for k in PACKED_KEYS if k in batch}  # data.packing rows
    decoder_inputs = encoder_decoder.shift_right(targets, start_id,
                                                 packed.get("targets_positions"))
    logits = model.apply({"params": params}, batch["inputs"], decoder_inputs,
                         deterministic=deterministic, rngs={"dropout": rng}, **packed)
    sums = token_metrics(logits, targets, weights)
    smoothed = (smoothed_cross_entropy(logits, targets, label_smoothing)
                if label_smoothing else None)
    if smoothed is not None:
      sums["smoothed_loss_sum"] = jnp.sum(smoothed * weights)
    wrong = (jnp.argmax(logits, -1) != targets) & (weights > 0)
    segments = packed.get("targets_segment_ids", (weights > 0).astype(jnp.int32))
    sums["seq/exact_match_sum"], sums["seq/weight"] = exact_examples(wrong, segments)
    key = "smoothed_loss_sum" if smoothed is not None else "loss_sum"
    return sums[key] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn


_NAMES = {"loss": "loss", "correct": "accuracy"}


def mean_metrics(sums: dict) -> dict:
  """Every `[prefix/]name_sum` divided by its `[prefix/]weight`, loss first (`correct` is
  reported as accuracy). What every task's summary starts from."""
  out = {}
  for key, value in sums.items():
    if not key.endswith("_sum"):
      continue
    prefix, _, name = key[:-len("_sum")].rpartition("/")
    prefix = f"{prefix}/" if prefix else ""
    weight = max(float(sums[f"{prefix}weight"]), 1.0)
    out[prefix + _NAMES.get(name, name)] = float(value) / weight
  return {"loss": out.pop("loss"), **out}  # loss first in printed reports


def pair_means(sums: dict) -> dict:
  """A preference task's metrics (reward model, DPO): the means; `tokens` counts pairs."""
  return {**mean_metrics(sums), "tokens": float(sums["weight"])}


def lm_metrics(sums: dict, loss_prefix: str = "") -> dict:
  """A token-level LM's metrics: the means, the perplexity of `<loss_prefix>loss` (as
  `<loss_prefix>perplexity`) and the token count (`weight`)."""
  out = mean_metrics(sums)
  out[f"{loss_prefix}perplexity"] = float(np.exp(min(out[f"{loss_prefix}loss"], 80.0)))
  out["tokens"] = float(sums["weight"])
  return out


def electra_metrics(sums: dict) -> dict:
  """The means, the generator's MLM perplexity (`gen/perplexity`: `loss` is generator +
  disc_weight x discriminator, so it has none) and the discriminator's precision, recall
  and AUC; `tokens` counts the discriminator's positions."""
  out = lm_metrics(sums, loss_prefix="gen/")
  tp = float(sums["disc/true_pos_count"])
  out["disc/precision"] = tp / max(float(sums["disc/pred_pos_count"]), 1.0)
  out["disc/recall"] = tp / max(float(sums["disc/pos_count"]), 1.0)
  # An all-"original" guess scores 1 - replaced_rate: the accuracy to beat.
  out["disc/replaced_rate"] = float(sums["disc/pos_count"]) / max(
      float(sums["disc/weight"]), 1.0)
  out["disc/auc"] = binned_auc(np.asarray(sums["disc/pos_hist_count"]),
                               np.asarray(sums["disc/neg_hist_count"]))
  return out


def binned_auc(pos_hist: np.ndarray, neg_hist: np.ndarray) -> float:
  """ROC AUC from per-class score histograms (ties within a bin count half)."""
  pos, neg = pos_hist.sum(), neg_hist.sum()
  if pos == 0 or neg == 0:
    return float("nan")
  neg_below = np.cumsum(neg_hist) - neg_hist
  return float(np.sum(pos_hist * (neg_below + 0.5 * neg_hist)) / (pos * neg))
