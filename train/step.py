"""ONE generic train step and eval step, jit-compiled with explicit shardings over the mesh."""
from __future__ import annotations

from typing import Any, Callable

import jax
import optax
from jax.sharding import Mesh

from train import objectives
from train import optimizer as optimizer_lib
from train import partitioning
from train.state import TrainState


def train_step(state: TrainState, batch: dict, *, loss_fn: objectives.LossFn,
               tx: optax.GradientTransformation,
               schedule: Callable | None = None) -> tuple[TrainState, dict]:
  """loss_fn's gradient, one optax update; RNG folded from the step (exact on resume)."""
  rng = jax.random.fold_in(state.rng, state.step)
  if state.carry is not None:  # data.contiguous: start where the last step's windows ended
    batch = dict(batch, carry=state.carry)
  if state.frozen is not None:  # Task.make_frozen trees (e.g. DPO's reference), never trained
    batch = dict(batch, frozen=state.frozen)
  (loss, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, batch, rng, False)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  carry = sums.pop("carry", None)  # the state after this step's windows (else None)
  metrics = dict(sums, loss=loss, grad_norm=optax.global_norm(grads))
  if schedule is not None:
    metrics["learning_rate"] = (schedule(_update_count(opt_state, state.step))
                                * optimizer_lib.lr_scale(opt_state))  # x plateau decay
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                       carry=carry), metrics


def _update_count(opt_state: Any, step: jax.Array) -> jax.Array:
  """The schedule's step: inner update count under optax.MultiSteps, else the step."""
  if isinstance(opt_state, optax.MultiStepsState):
    return opt_state.gradient_step
  return step


def eval_step(params: Any, batch: dict, frozen: Any = None, *,
              loss_fn: objectives.LossFn) -> dict:
  """Summed metrics of one eval batch (deterministic: no dropout); frozen: the state's
  Task.make_frozen trees (None for tasks without them)."""
  if frozen is not None:
    batch = dict(batch, frozen=frozen)
  _, sums = loss_fn(params, batch, jax.random.PRNGKey(0), True)
  return sums


def compile_plateau_update(train_config: Any, state_shardings: TrainState,
                           mesh: Mesh) -> Callable[[TrainState, float], TrainState]:
  """(state, eval loss) -> state with the plateau decay advanced (optimizer.plateau_update),
  jit-compiled so the state keeps its shardings; the checkpoint then carries it."""
  rep = partitioning.replicated(mesh)
  return jax.jit(
      lambda s, loss: s.replace(
          opt_state=optimizer_lib.plateau_update(train_config, s.opt_state, loss)),
      in_shardings=(state_shardings, rep), out_shardings=state_shardings, donate_argnums=(0,))


# train.xla_cpu_scheduler -> XLA:CPU's scheduler type: the order of a program's ops, which
# sets how many run side by side and how many buffers are alive at once.
CPU_SCHEDULERS = {"memory": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
                  "concurrency": "CPU_SCHEDULER_TYPE_CONCURRENCY_OPTIMIZED"}


def compiler_options(mesh: Mesh, cpu_scheduler: str) -> dict | None:
  """jax.jit's compiler_options for a step on mesh: XLA:CPU's scheduler (a CPU_SCHEDULERS
  key) on a CPU mesh, None elsewhere."""
  if mesh.devices.flat[0].platform != "cpu":
    return None
  return {"xla_cpu_scheduler_type": CPU_SCHEDULERS[cpu_scheduler]}


def compile_steps(loss_fn: objectives.LossFn, tx: optax.GradientTransformation,
                  state_shardings: TrainState, mesh: Mesh,
                  schedule: Callable | None = None,
                  cpu_scheduler: str = "memory") -> tuple[Callable, Callable]:
  """jit the train step (state donated) and eval step with explicit in/out shardings.

  The eval step is evaluate(params, batch, frozen) (frozen: the state's, None if none).
  On a CPU mesh both compile with `cpu_scheduler` (a CPU_SCHEDULERS key, checked by
  experiment.validate); other backends ignore it."""
  options = compiler_options(mesh, cpu_scheduler)
  data_sharding = partitioning.batch_sharding(mesh)
  rep = partitioning.replicated(mesh)
  train = jax.jit(
      lambda s, b: train_step(s, b, loss_fn=loss_fn, tx=tx, schedule=schedule),
      in_shardings=(state_shardings, data_sharding),
      out_shardings=(state_shardings, rep), donate_argnums=(0,), compiler_options=options)
  evaluate = jax.jit(
      lambda p, b, f: eval_step(p, b, f, loss_fn=loss_fn),
      in_shardings=(state_shardings.params, data_sharding, state_shardings.frozen),
      out_shardings=rep, compiler_options=options)
  return train, evaluate
