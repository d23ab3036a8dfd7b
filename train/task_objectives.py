"""Fine-tuning losses: sequence classification and token (BIO tag) classification.

The losses of train/tasks/classification.py and token_classification.py. Like every
objective they return summed metrics; a `confusion_count` [C, C] sum (true x predicted,
weighted) gives accuracy and the macro/micro/weighted F1 at every log and eval
(class_metrics). In eval mode
(deterministic) token classification also returns its per-token predictions under
`pred/` keys, which evaluation concatenates instead of summing, for entity-level F1.
"""
from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from eval import metrics as metrics_lib
from train import objectives

PRED_PREFIX = "pred/"  # per-example outputs: concatenated over eval batches, not summed


def class_weights(task: Any) -> Optional[np.ndarray]:
  """task.class_weights ("1,3.5") as float32 [C], or None for equal weights."""
  if not task.class_weights:
    return None
  try:
    w = np.array([float(x) for x in str(task.class_weights).split(",")], np.float32)
  except ValueError:
    raise ValueError(f"task.class_weights={task.class_weights!r} must be comma-separated "
                     "numbers, one per class") from None
  if len(w) != task.num_classes or (w < 0).any() or w.sum() <= 0:
    raise ValueError(f"task.class_weights needs {task.num_classes} non-negative numbers "
                     f"(task.num_classes), not all zero; got {task.class_weights!r}")
  return w


def label_sums(logits_NxC: jax.Array, labels_N: jax.Array, weights_N: jax.Array,
               weights_C: Optional[np.ndarray]) -> tuple[jax.Array, dict]:
  """(loss to optimise, summed metrics) over N labelled positions (weight 0: ignored).

  The optimised loss weighs each example by its class weight (mean over the summed class
  weight, as torch's CrossEntropyLoss(weight=...)); the reported loss_sum is the plain
  cross-entropy, so runs with and without class weights compare.
  """
  num_classes = logits_NxC.shape[-1]
  ce_N = optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N)
  cw_N = weights_N if weights_C is None else weights_N * jnp.asarray(weights_C)[labels_N]
  loss = jnp.sum(ce_N * cw_N) / jnp.maximum(jnp.sum(cw_N), 1e-9)
  pred_N = jnp.argmax(logits_NxC, -1)
  true_NxC = jax.nn.one_hot(labels_N, num_classes) * weights_N[:, None]
  confusion_CxC = true_NxC.T @ jax.nn.one_hot(pred_N, num_classes)
  return loss, {"loss_sum": jnp.sum(ce_N * weights_N),
                "correct_sum": jnp.sum((pred_N == labels_N) * weights_N),
                "weight": jnp.sum(weights_N), "confusion_count": confusion_CxC}


def make_classification(model: nn.Module, weights_C: Optional[np.ndarray]):
  """Cross-entropy of one label per row (batch: inputs, label, label_weight)."""
  def loss_fn(params, batch, rng, deterministic: bool = False):
    logits_BxC = model.apply({"params": params}, batch["inputs"], deterministic=deterministic,
                             rngs={"dropout": rng})
    return label_sums(logits_BxC, batch["label"][:, 0], batch["label_weight"][:, 0],
                      weights_C)
  return loss_fn


def make_token_classification(model: nn.Module, weights_C: Optional[np.ndarray]):
  """Cross-entropy on each word's first sub-token (batch: inputs, targets, weights)."""
  def loss_fn(params, batch, rng, deterministic: bool = False):
    logits_BxTxC = model.apply({"params": params}, batch["inputs"],
                               deterministic=deterministic, rngs={"dropout": rng})
    c = logits_BxTxC.shape[-1]
    loss, sums = label_sums(logits_BxTxC.reshape(-1, c), batch["targets"].reshape(-1),
                            batch["weights"].reshape(-1), weights_C)
    if deterministic:  # eval: the words' predicted tags, for entity-level scores
      sums.update({f"{PRED_PREFIX}tags": jnp.argmax(logits_BxTxC, -1).astype(jnp.int32),
                   f"{PRED_PREFIX}targets": batch["targets"],
                   f"{PRED_PREFIX}weights": batch["weights"],
                   f"{PRED_PREFIX}num_words": batch["num_words"]})
    return loss, sums
  return loss_fn


def class_metrics(sums: dict) -> dict:
  """A classifier's metrics: the means, the example (or token) count, class-averaged F1."""
  out = objectives.mean_metrics(sums)
  out["tokens"] = float(sums["weight"])
  return {**out, **confusion_summary(sums["confusion_count"])}


def confusion_summary(confusion: np.ndarray) -> dict:
  """The scalar averages of a summed confusion matrix (for logs and model selection)."""
  scores = metrics_lib.classification_scores(np.asarray(confusion))
  return {k: scores[k] for k in ("macro_f1", "micro_f1", "weighted_f1")}


def word_tags(collected: dict, names: list[str]) -> tuple[list[list[str]], list[list[str]], int]:
  """Gold and predicted tag strings per sentence from concatenated `pred/` arrays, and
  how many words data.seq_len cut (not scored: the batch has no tags for them)."""
  tags, targets = collected[f"{PRED_PREFIX}tags"], collected[f"{PRED_PREFIX}targets"]
  weights, num_words = collected[f"{PRED_PREFIX}weights"], collected[f"{PRED_PREFIX}num_words"]
  gold, pred, cut = [], [], 0
  for row in range(len(tags)):
    n = int(num_words[row, 0])
    if n == 0:  # a padding row of the last eval batch
      continue
    seen = weights[row] > 0
    g = [names[t] for t in targets[row][seen]]
    p = [names[t] for t in tags[row][seen]]
    gold.append(g)
    pred.append(p)
    cut += n - len(g)
  return gold, pred, cut
