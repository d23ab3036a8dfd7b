"""One way to time a jitted train step, shared by the benchmarks."""
from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any, Callable, Sequence


@dataclasses.dataclass
class StepTimes:
  """Compile time, the first call, then per-step wall times and CPU time per step."""
  compile_s: float
  first_step_s: float
  times: list[float]
  cpu_per_step: float
  state: Any  # the state after every step
  metrics: Any  # the last step's metrics

  @property
  def median_s(self) -> float:
    return statistics.median(self.times)


def time_train_steps(train_fn: Callable, state: Any, batches: Sequence[Any],
                     warmup: int) -> StepTimes:
  """Compile train_fn(state, batch) -> (state, metrics) on batches[0], run it on that batch
  (timed as the first step), on `warmup` more (untimed), then time each remaining batch
  (blocking on the result, so the time is the step's, not its dispatch)."""
  import jax

  t0 = time.perf_counter()
  compiled = train_fn.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics = compiled(state, batches[0])
  jax.block_until_ready((state, metrics))
  first_step_s = time.perf_counter() - t0
  for b in batches[1:1 + warmup]:
    state, metrics = compiled(state, b)
  jax.block_until_ready((state, metrics))
  times = []
  cpu0 = time.process_time()
  for b in batches[1 + warmup:]:
    t0 = time.perf_counter()
    state, metrics = compiled(state, b)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t0)
  cpu_per_step = (time.process_time() - cpu0) / max(len(times), 1)
  return StepTimes(compile_s, first_step_s, times, cpu_per_step, state, metrics)
