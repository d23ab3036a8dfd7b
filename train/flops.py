"""Model FLOPs per token and a measured peak, for MFU (never a hard-coded peak).

A run's peak is measured once per machine: `system_peak_flops` caches it per (backend,
device kind, device count, dtype) in $ATTNLAB_CACHE_DIR/peak_flops.json (default
~/.cache/attnlab); delete that file to measure again, or set train.peak_flops.
"""
from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp

from model.layers import TransformerConfig
from model.rnn import LSTMConfig
from train import cli
from train import workdir as workdir_lib


def flops_per_token(cfg: TransformerConfig | LSTMConfig, seq_len: int) -> float:
  """Training FLOPs per token: 6 × matmul params + 12 × layers × seq_len × attn width
  (Kaplan et al. 2020 / PaLM appendix B), counting the output projection."""
  if isinstance(cfg, LSTMConfig):  # 4 gates × (input + recurrent) matmuls per layer
    d = cfg.d_model
    return 6.0 * (cfg.num_layers * 8 * d * d + d * cfg.vocab_size)
  d, layers = cfg.d_model, cfg.num_layers
  q_width, kv_width = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
  mlp_mats = 3 if cfg.activation in ("swiglu", "geglu") else 2
  per_layer = d * (2 * q_width + 2 * kv_width) + mlp_mats * d * cfg.mlp_dim
  matmul_params = layers * per_layer + d * cfg.vocab_size
  return 6.0 * matmul_params + 12.0 * layers * seq_len * q_width


def measure_peak_flops(dtype=jnp.float32, n: int = 0, repeats: int = 5) -> float:
  """FLOP/s of a large jit matmul in `dtype` on the default device (best of `repeats`).

  Random operands (GPUs run faster on constant data); n defaults to 2048 on CPU and
  8192 on accelerators, large enough to reach the matmul units' ceiling.
  """
  n = n or (2048 if jax.default_backend() == "cpu" else 8192)
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    f(a).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2.0 * n ** 3 / best


def measure_system_peak_flops(dtype=jnp.float32) -> float:
  """Peak of all devices this run uses: one device's × count, except on CPU, where the
  (simulated) devices share the same cores and one matmul already uses them all."""
  peak = measure_peak_flops(dtype)
  if jax.default_backend() == "cpu":
    return peak
  return peak * jax.device_count()


def system_peak_flops(dtype=jnp.float32) -> float:
  """measure_system_peak_flops(dtype), measured once per machine and then read from
  <cache_dir>/peak_flops.json; an unreadable or unwritable cache only costs a measurement."""
  key = (f"{jax.default_backend()}/{jax.devices()[0].device_kind}/"
         f"{jax.device_count()}/{jnp.dtype(dtype).name}")
  path = os.path.join(cli.cache_dir(), "peak_flops.json")
  try:
    with open(path) as f:
      cached = json.load(f)
  except (OSError, ValueError):
    cached = {}
  if not isinstance(cached, dict):
    cached = {}
  if isinstance(cached.get(key), (int, float)) and cached[key] > 0:
    return float(cached[key])
  peak = measure_system_peak_flops(dtype)
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    workdir_lib.atomic_write(path, json.dumps({**cached, key: peak}, indent=2, sort_keys=True))
  except OSError:
    pass
  return peak
