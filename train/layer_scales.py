"""Per-parameter update scales for fine-tuning: a frozen backbone, layer-wise LR decay.

`train.freeze_backbone`: every param under "backbone" (model/heads.py) gets scale 0, so
only the head trains; its gradients are zeroed before clipping too, so the head's clip
norm is its own. `train.layer_decay = d < 1` (ELECTRA, BEiT): with L blocks, block i
(0-based) updates at d**(L - i) times the head's rate, the embeddings at d**(L + 1), and
the head and final norm at 1. Scales multiply the optimizer's final updates (weight decay
included), so they act exactly like per-layer learning rates. L is read from the param
tree (`layers_<i>` blocks, or the leading axis of scanned `layers`); ALBERT's shared block
is treated as the top block.
"""
from __future__ import annotations

import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

_BLOCK = re.compile(r"^layers_(\d+)$")
_EMBEDDINGS = ("embed", "embed_proj")


def _names(path) -> list[str]:
  return [str(getattr(k, "key", k)) for k in path]


def _num_layers(params: Any) -> int:
  """Transformer blocks in the tree: layers_<i> names, or the scanned stack's depth."""
  depth = 0
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    for name in _names(path):
      m = _BLOCK.match(name)
      if m:
        depth = max(depth, int(m.group(1)) + 1)
      elif name == "layers":
        depth = max(depth, leaf.shape[0])
  return depth


def scales(params: Any, freeze_backbone: bool, layer_decay: float) -> Any:
  """A tree of update scales (floats, or [L, 1, ...] arrays for scanned layers)."""
  num_layers = _num_layers(params)

  def scale(path, leaf):
    names = _names(path)
    if freeze_backbone and names[0] == "backbone":
      return 0.0
    if layer_decay == 1.0:
      return 1.0
    for name in names:
      m = _BLOCK.match(name)
      if m:
        return layer_decay ** (num_layers - int(m.group(1)))
      if name == "layers":  # scanned: one scale per slice of the leading axis
        per_layer = layer_decay ** (num_layers - np.arange(num_layers, dtype=np.float32))
        return per_layer.reshape((-1,) + (1,) * (leaf.ndim - 1))
      if name == "layers_shared":
        return layer_decay
      if name in _EMBEDDINGS:
        return layer_decay ** (num_layers + 1)
    return 1.0
  return jax.tree_util.tree_map_with_path(scale, params)


def _scale_by(freeze_backbone: bool, layer_decay: float,
              frozen_only: bool) -> optax.GradientTransformation:
  def update(updates, state, params=None):
    factors = scales(updates, freeze_backbone, 1.0 if frozen_only else layer_decay)
    return jax.tree.map(lambda u, f: u * jnp.asarray(f, u.dtype), updates, factors), state
  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def wrap(opt: optax.GradientTransformation, train_config: Any) -> optax.GradientTransformation:
  """opt with the frozen backbone / layer decay of train_config (unchanged by default)."""
  freeze = bool(train_config.freeze_backbone)
  decay = float(train_config.layer_decay)
  if not 0.0 < decay <= 1.0:
    raise ValueError(f"train.layer_decay must be in (0, 1], got {decay}")
  if not freeze and decay == 1.0:
    return opt
  chain = [opt, _scale_by(freeze, decay, frozen_only=False)]
  if freeze:  # zero frozen grads first so they do not count in the clip norm
    chain.insert(0, _scale_by(True, 1.0, frozen_only=True))
  return optax.chain(*chain)
