"""TrainState and its sharded initialisation (params created directly on the mesh)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from train import partitioning


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue exactly: step, params, optimizer state, RNG."""
  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array  # raw uint32 key data: checkpoints as a plain array
  # What the next step starts from, made at init by a carry function
  # (experiment.carry_fn), handed to the loss as batch["carry"] and replaced by the loss's
  # sums["carry"], checkpointed so a resume is exact; else None. data.contiguous (stateful
  # LSTM): the recurrent state [batch, layers, 2, hidden] (model/rnn.py zero_carry); a
  # task's own (Task.make_carry, e.g. PPO's rollout buffer).
  carry: Any = None
  # Trees the loss reads but never trains (Task.make_frozen, e.g. DPO's reference policy): made
  # from the params when a run starts (after init_from), checkpointed with the state, and
  # handed to the loss as batch["frozen"]; else None.
  frozen: Any = None

  @property
  def param_count(self) -> int:
    return sum(x.size for x in jax.tree.leaves(self.params))

  @property
  def non_embedding_param_count(self) -> int:
    """Params outside embedding tables (token, position, type): Kaplan et al.'s N."""
    flat = jax.tree_util.tree_flatten_with_path(self.params)[0]
    return sum(x.size for path, x in flat
               if "embedding" not in jax.tree_util.keystr(path))


FrozenFn = Callable[[Any], Any]  # params -> the frozen trees (Task.make_frozen)
CarryFn = Callable[[], Any]  # () -> the initial carry (experiment.carry_fn)


def _init_fn(model: nn.Module, tx: optax.GradientTransformation, seq_len: int, seed: int,
             carry_fn: Optional[CarryFn] = None, frozen_fn: Optional[FrozenFn] = None):
  def init(boxed: bool = False):
    params_rng, state_rng = jax.random.split(jax.random.PRNGKey(seed))
    dummy = jnp.zeros((1, seq_len), jnp.int32)
    params = model.init({"params": params_rng, "dropout": params_rng}, dummy)["params"]
    if not boxed:
      params = nn.meta.unbox(params)
    carry = carry_fn() if carry_fn is not None else None
    frozen = _copy(frozen_fn(params)) if frozen_fn is not None else None
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=tx.init(params), rng=state_rng, carry=carry, frozen=frozen)
  return init


def _copy(tree: Any) -> Any:
  """Buffers of their own (a donated state must not hold one buffer twice)."""
  return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def refresh_frozen(state: TrainState, frozen_fn: Optional[FrozenFn],
                   shardings: TrainState) -> TrainState:
  """state with its frozen trees made again from its params (after init_from filled them)."""
  if frozen_fn is None:
    return state
  fresh = jax.jit(lambda p: _copy(frozen_fn(p)), out_shardings=shardings.frozen)(state.params)
  return state.replace(frozen=fresh)


def state_shardings(model: nn.Module, tx: optax.GradientTransformation, seq_len: int,
                    seed: int, mesh: Mesh, rules: tuple = partitioning.LOGICAL_AXIS_RULES,
                    carry_fn: Optional[CarryFn] = None,
                    frozen_fn: Optional[FrozenFn] = None) -> tuple[TrainState, TrainState]:
  """(abstract unboxed state, its NamedShardings) from the params' logical axis names.

  carry_fn (experiment.carry_fn): the state holds the carry it makes; frozen_fn
  (Task.make_frozen): it holds frozen trees made from the params."""
  init = _init_fn(model, tx, seq_len, seed, carry_fn, frozen_fn)
  boxed = jax.eval_shape(lambda: init(boxed=True))
  shardings = partitioning.logical_shardings(boxed, mesh, rules)
  abstract = jax.eval_shape(lambda: init(boxed=False))
  partitioning.check_divisible(abstract.params, shardings.params, mesh)
  abstract = jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, shardings)
  return abstract, shardings


def create_train_state(model: nn.Module, tx: optax.GradientTransformation, seq_len: int,
                       seed: int, mesh: Mesh, shardings: TrainState,
                       rules: tuple = partitioning.LOGICAL_AXIS_RULES,
                       carry_fn: Optional[CarryFn] = None,
                       frozen_fn: Optional[FrozenFn] = None) -> TrainState:
  """Initialise the state with every array born on its shard (no host round trip).

  `shardings` come from `state_shardings` (the Experiment already holds them).
  """
  init = _init_fn(model, tx, seq_len, seed, carry_fn, frozen_fn)
  with partitioning.mesh_context(mesh, rules):
    return jax.jit(init, out_shardings=shardings)()
