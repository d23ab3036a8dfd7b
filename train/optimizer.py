"""The optax optimizer built from `config.train`: schedule, clipping, decay mask, accumulation.

Epoch-based settings (train.epochs, schedule=step) need the run's steps per epoch, which
comes from the data (train/epochs.py): `steps_per_epoch=None` means "not known yet" (the
config check before any data work), which checks every key but the budget-dependent ones.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax

from model.layers import check
from train import layer_scales

OPTIMIZERS = ("adamw", "adafactor", "sgd", "lion")
SCHEDULES = ("cosine", "linear", "rsqrt", "constant", "step")
LOSS_NORMALIZATIONS = ("token_mean", "sequence_sum")
# plateau decay: an eval loss "improves" when below the best by this relative margin (about
# float32 resolution: PyTorch's word_language_model compares with a strict <)
PLATEAU_RTOL = 1e-7
# train.* numbers that may differ between the runs of one packed group (train/packed.py):
# make_optimizer/make_schedule take them as traced scalars (`values`); every check and every
# structural choice (clip or not, momentum or not, weight decay or not) reads the config.
PACKABLE_KEYS = ("learning_rate", "end_learning_rate", "weight_decay", "b1", "b2", "eps",
                 "grad_clip", "momentum")
Values = Optional[Mapping[str, Any]]


def _value(train_config: Any, values: Values, key: str) -> Any:
  """values[key] (a number or traced scalar) if given, else the config's number."""
  if values is not None and key in values:
    if key not in PACKABLE_KEYS:
      raise ValueError(f"train.{key} cannot be a per-run value; packable keys: "
                       f"{', '.join(PACKABLE_KEYS)}")
    return values[key]
  return train_config[key]


def num_updates(train_config: Any) -> int:
  """Optimizer updates in a run: train.steps batches / train.grad_accum_steps."""
  return max(1, train_config.steps // max(1, train_config.grad_accum_steps))


def _budget_known(train_config: Any, steps_per_epoch: Optional[int]) -> bool:
  """False while train.epochs > 0 and the data has not been counted (train.steps is not
  the run's yet)."""
  return train_config.epochs <= 0 or steps_per_epoch is not None


def make_schedule(train_config: Any, steps_per_epoch: Optional[int] = None,
                  values: Values = None) -> optax.Schedule:
  """Linear warmup to learning_rate, then cosine/linear decay to end_lr, rsqrt, flat or
  step decay by epochs (steps_per_epoch: train/epochs.py; None before the data is read).

  values: learning_rate / end_learning_rate as (possibly traced) scalars instead of the
  config's numbers, which are still the ones checked (PACKABLE_KEYS)."""
  t = train_config
  for key in values or ():
    _value(t, values, key)  # only packable keys
  lr, end_lr = _value(t, values, "learning_rate"), _value(t, values, "end_learning_rate")
  if t.schedule not in SCHEDULES:
    raise ValueError(f"unknown train.schedule={t.schedule!r}; choose one of {', '.join(SCHEDULES)}")
  check(0 < t.learning_rate < math.inf, "train.learning_rate", t.learning_rate,
        "must be a positive finite number", "it is the peak of the schedule")
  total, warmup = num_updates(t), t.warmup_steps
  check(warmup >= 0, "train.warmup_steps", warmup, "must be >= 0",
        "0 starts at the full learning rate")
  if t.schedule == "step":
    check(t.epochs > 0, "train.schedule", t.schedule, "decays by epochs, but train.epochs=0",
          "set train.epochs (the budget in epochs), or pick another schedule")
    check(t.decay_after_epochs >= 0, "train.decay_after_epochs", t.decay_after_epochs,
          "must be an integer >= 0", "it is the epochs at the full learning rate")
    check(0 < t.decay_factor <= 1, "train.decay_factor", t.decay_factor,
          "must be in (0, 1]", "the learning rate is multiplied by it at each epoch start")
  if not _budget_known(t, steps_per_epoch):
    return optax.constant_schedule(lr)  # a stand-in: the checks above only
  check(warmup <= total, "train.warmup_steps", warmup,
        f"is longer than the run's {total} optimizer updates (train.steps={t.steps} / "
        f"train.grad_accum_steps={t.grad_accum_steps}), so the learning rate would never "
        "reach train.learning_rate", "lower train.warmup_steps or raise train.steps")
  check(0 <= t.end_learning_rate < math.inf, "train.end_learning_rate", t.end_learning_rate,
        "must be a finite number >= 0", "it is the learning rate the decay ends at")
  decay_steps = max(1, total - warmup)
  if t.schedule == "cosine":
    after = optax.cosine_decay_schedule(lr, decay_steps, alpha=end_lr / lr)
  elif t.schedule == "linear":
    after = optax.linear_schedule(lr, end_lr, decay_steps)
  elif t.schedule == "rsqrt":
    after = lambda step: lr * jax.lax.rsqrt(1.0 + step / max(1, warmup))
  elif t.schedule == "step":
    after = step_decay_schedule(t, steps_per_epoch, lr)
  else:
    after = optax.constant_schedule(lr)
  if warmup == 0:
    return after
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), after], [warmup])


def step_decay_schedule(train_config: Any, steps_per_epoch: int,
                        learning_rate: Any = None) -> optax.Schedule:
  """learning_rate for decay_after_epochs epochs, then x decay_factor at every later epoch
  start (Zaremba et al. 2014: 4 epochs at 1, then halved each epoch). Boundaries are in
  optimizer updates from the start of the run (warmup included), so epoch e (from 0) runs
  at learning_rate * decay_factor ** max(0, e + 1 - decay_after_epochs).
  learning_rate: a (traced) value instead of train.learning_rate."""
  t = train_config
  lr = t.learning_rate if learning_rate is None else learning_rate
  per_epoch = steps_per_epoch / max(1, t.grad_accum_steps)  # updates per epoch
  epochs = math.ceil(t.epochs)
  boundaries = {}
  for e in range(t.decay_after_epochs, epochs):
    boundary = round(e * per_epoch) - t.warmup_steps  # join_schedules restarts the count
    check(boundary > 0 or t.warmup_steps == 0, "train.warmup_steps", t.warmup_steps,
          f"reaches epoch {e} (update {round(e * per_epoch)}), where schedule=step already "
          "decays", "lower train.warmup_steps or raise train.decay_after_epochs")
    boundaries[boundary] = t.decay_factor
  return optax.piecewise_constant_schedule(lr, boundaries)


class PlateauState(NamedTuple):
  """The plateau decay's lr scale, in the optimizer state: optax.contrib.reduce_on_plateau's
  state, advanced by the eval loss (plateau_update) rather than by the train step."""
  plateau: optax.contrib.ReduceLROnPlateauState


def _reduce_on_plateau(train_config: Any) -> optax.GradientTransformationExtraArgs:
  t = train_config
  return optax.contrib.reduce_on_plateau(factor=t.plateau_factor, patience=t.plateau_patience,
                                         rtol=PLATEAU_RTOL, atol=0.0)


def scale_by_plateau(train_config: Any) -> optax.GradientTransformation:
  """Updates x the plateau scale (1 until an eval fails to improve; plateau_update)."""
  rop = _reduce_on_plateau(train_config)

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u: state.plateau.scale * u, updates), state

  return optax.GradientTransformation(lambda params: PlateauState(rop.init(params)), update)


def _is_plateau(node: Any) -> bool:
  return isinstance(node, PlateauState)


def plateau_update(train_config: Any, opt_state: Any, eval_loss: jax.Array) -> Any:
  """opt_state after an eval: optax's reduce_on_plateau logic fed the eval loss, so the
  scale drops by plateau_factor after plateau_patience evals without a new best."""
  rop = _reduce_on_plateau(train_config)

  def advance(node):
    if not _is_plateau(node):
      return node
    _, new = rop.update((), node.plateau, value=eval_loss)
    return PlateauState(new)
  return jax.tree.map(advance, opt_state, is_leaf=_is_plateau)


def lr_scale(opt_state: Any) -> jax.Array:
  """The plateau decay's current lr multiplier (1.0 when plateau decay is off)."""
  nodes = [n for n in jax.tree.leaves(opt_state, is_leaf=_is_plateau) if _is_plateau(n)]
  return nodes[0].plateau.scale if nodes else jnp.ones((), jnp.float32)


def decay_mask(params: Any, decay_embeddings: bool = False) -> Any:
  """True for matrices (ndim >= 2); False for norms, biases and (by default) embeddings."""
  def is_decayed(path, leaf):
    names = [str(getattr(p, "key", p)) for p in path]
    is_embedding = any(n in ("embed", "embedding") for n in names)
    return leaf.ndim >= 2 and (decay_embeddings or not is_embedding)
  return jax.tree_util.tree_map_with_path(is_decayed, params)


def make_optimizer(train_config: Any, steps_per_epoch: Optional[int] = None,
                   seq_len: int = 0, values: Values = None) -> optax.GradientTransformation:
  """The full optimizer chain for a run, validated before anything compiles.

  steps_per_epoch: train/epochs.py's count (None before the data is read, see the module
  docstring); seq_len: data.seq_len, the factor of loss_normalization=sequence_sum.
  values: some of PACKABLE_KEYS as (possibly traced) scalars used to build the chain in
  place of the config's numbers (a packed group's per-run hyperparameters under vmap). The
  checks and the chain's structure still read the config, so the built optimizer, and its
  state, have the same structure whatever the values; values=None is the config's own.
  """
  t = train_config
  if t.optimizer not in OPTIMIZERS:
    raise ValueError(
        f"unknown train.optimizer={t.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
  check(t.grad_accum_steps >= 1, "train.grad_accum_steps", t.grad_accum_steps,
        "must be a positive integer", "1 updates the params after every batch")
  if _budget_known(t, steps_per_epoch):
    check(t.grad_accum_steps <= t.steps, "train.grad_accum_steps", t.grad_accum_steps,
          f"is more than train.steps={t.steps}: the run would end before its first update",
          "lower train.grad_accum_steps or raise train.steps")
  check(0 <= t.grad_clip < math.inf, "train.grad_clip", t.grad_clip,
        "must be a finite number >= 0", "0 disables clipping")
  check(0 <= t.momentum < 1, "train.momentum", t.momentum, "must be in [0, 1)",
        "0 is plain SGD")
  check(t.plateau_factor == 0 or 0 < t.plateau_factor < 1, "train.plateau_factor",
        t.plateau_factor, "must be in (0, 1), or 0", "0 disables plateau decay")
  check(t.plateau_patience >= 1, "train.plateau_patience", t.plateau_patience,
        "must be an integer >= 1", "1 decays after the first eval without a new best")
  if t.loss_normalization not in LOSS_NORMALIZATIONS:
    raise ValueError(f"unknown train.loss_normalization={t.loss_normalization!r}; choose one "
                     f"of {', '.join(LOSS_NORMALIZATIONS)}")
  schedule = make_schedule(t, steps_per_epoch, values)
  v = lambda key: _value(t, values, key)  # noqa: E731
  mask = lambda p: decay_mask(p, t.decay_embeddings)
  if t.optimizer == "adamw":
    opt = optax.adamw(schedule, b1=v("b1"), b2=v("b2"), eps=v("eps"),
                      weight_decay=v("weight_decay"), mask=mask)
  elif t.optimizer == "lion":
    opt = optax.lion(schedule, b1=v("b1"), b2=v("b2"), weight_decay=v("weight_decay"),
                     mask=mask)
  elif t.optimizer == "adafactor":
    opt = optax.adafactor(schedule, weight_decay_rate=v("weight_decay") if t.weight_decay
                          else None, weight_decay_mask=mask)
  else:
    opt = optax.chain(optax.add_decayed_weights(v("weight_decay"), mask),
                      optax.sgd(schedule, momentum=v("momentum") if t.momentum else None))
  if t.plateau_factor > 0:
    opt = optax.chain(opt, scale_by_plateau(t))
  if t.grad_clip > 0:
    opt = optax.chain(optax.clip_by_global_norm(v("grad_clip")), opt)
  if t.loss_normalization == "sequence_sum":  # the gradient of token mean x seq_len
    check(seq_len >= 1, "train.loss_normalization", t.loss_normalization,
          "needs data.seq_len (make_optimizer's seq_len)", "pass the run's seq_len")
    opt = optax.chain(optax.scale(float(seq_len)), opt)
  opt = layer_scales.wrap(opt, t)  # fine-tuning: frozen backbone, layer-wise LR decay
  if t.grad_accum_steps > 1:
    opt = optax.MultiSteps(opt, every_k_schedule=t.grad_accum_steps)
  return opt
