"""Model FLOPs per token and a peak measured on the spot, for MFU (never a hard-coded peak)."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from model.layers import TransformerConfig
from model.rnn import LSTMConfig


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
