"""The optax optimizer built from `config.train`: schedule, clipping, decay mask, accumulation."""
from __future__ import annotations

import math
from typing import Any

import jax
import optax

from model.layers import check
from train import layer_scales

OPTIMIZERS = ("adamw", "adafactor", "sgd", "lion")
SCHEDULES = ("cosine", "linear", "rsqrt", "constant")


def num_updates(train_config: Any) -> int:
  """Optimizer updates in a run: train.steps batches / train.grad_accum_steps."""
  return max(1, train_config.steps // max(1, train_config.grad_accum_steps))


def make_schedule(train_config: Any) -> optax.Schedule:
  """Linear warmup to learning_rate, then cosine/linear decay to end_lr, rsqrt or flat."""
  t = train_config
  if t.schedule not in SCHEDULES:
    raise ValueError(f"unknown train.schedule={t.schedule!r}; choose one of {', '.join(SCHEDULES)}")
  check(0 < t.learning_rate < math.inf, "train.learning_rate", t.learning_rate,
        "must be a positive finite number", "it is the peak of the schedule")
  total, warmup = num_updates(t), t.warmup_steps
  check(warmup >= 0, "train.warmup_steps", warmup, "must be >= 0",
        "0 starts at the full learning rate")
  check(warmup <= total, "train.warmup_steps", warmup,
        f"is longer than the run's {total} optimizer updates (train.steps={t.steps} / "
        f"train.grad_accum_steps={t.grad_accum_steps}), so the learning rate would never "
        "reach train.learning_rate", "lower train.warmup_steps or raise train.steps")
  check(0 <= t.end_learning_rate < math.inf, "train.end_learning_rate", t.end_learning_rate,
        "must be a finite number >= 0", "it is the learning rate the decay ends at")
  decay_steps = max(1, total - warmup)
  if t.schedule == "cosine":
    after = optax.cosine_decay_schedule(
        t.learning_rate, decay_steps, alpha=t.end_learning_rate / t.learning_rate)
  elif t.schedule == "linear":
    after = optax.linear_schedule(t.learning_rate, t.end_learning_rate, decay_steps)
  elif t.schedule == "rsqrt":
    after = lambda step: t.learning_rate * jax.lax.rsqrt(1.0 + step / max(1, warmup))
  else:
    after = optax.constant_schedule(t.learning_rate)
  if warmup == 0:
    return after
  return optax.join_schedules(
      [optax.linear_schedule(0.0, t.learning_rate, warmup), after], [warmup])


def decay_mask(params: Any, decay_embeddings: bool = False) -> Any:
  """True for matrices (ndim >= 2); False for norms, biases and (by default) embeddings."""
  def is_decayed(path, leaf):
    names = [str(getattr(p, "key", p)) for p in path]
    is_embedding = any(n in ("embed", "embedding") for n in names)
    return leaf.ndim >= 2 and (decay_embeddings or not is_embedding)
  return jax.tree_util.tree_map_with_path(is_decayed, params)


def make_optimizer(train_config: Any) -> optax.GradientTransformation:
  """The full optimizer chain for a run, validated before anything compiles."""
  t = train_config
  if t.optimizer not in OPTIMIZERS:
    raise ValueError(
        f"unknown train.optimizer={t.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
  check(t.grad_accum_steps >= 1, "train.grad_accum_steps", t.grad_accum_steps,
        "must be a positive integer", "1 updates the params after every batch")
  check(t.grad_accum_steps <= t.steps, "train.grad_accum_steps", t.grad_accum_steps,
        f"is more than train.steps={t.steps}: the run would end before its first update",
        "lower train.grad_accum_steps or raise train.steps")
  check(0 <= t.grad_clip < math.inf, "train.grad_clip", t.grad_clip,
        "must be a finite number >= 0", "0 disables clipping")
  schedule = make_schedule(t)
  mask = lambda p: decay_mask(p, t.decay_embeddings)
  if t.optimizer == "adamw":
    opt = optax.adamw(schedule, b1=t.b1, b2=t.b2, eps=t.eps, weight_decay=t.weight_decay,
                      mask=mask)
  elif t.optimizer == "lion":
    opt = optax.lion(schedule, b1=t.b1, b2=t.b2, weight_decay=t.weight_decay, mask=mask)
  elif t.optimizer == "adafactor":
    opt = optax.adafactor(schedule, weight_decay_rate=t.weight_decay or None,
                          weight_decay_mask=mask)
  else:
    opt = optax.chain(optax.add_decayed_weights(t.weight_decay, mask),
                      optax.sgd(schedule, momentum=t.b1 or None))
  if t.grad_clip > 0:
    opt = optax.chain(optax.clip_by_global_norm(t.grad_clip), opt)
  opt = layer_scales.wrap(opt, t)  # fine-tuning: frozen backbone, layer-wise LR decay
  if t.grad_accum_steps > 1:
    opt = optax.MultiSteps(opt, every_k_schedule=t.grad_accum_steps)
  return opt
