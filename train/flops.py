"""Model FLOPs per token and a measured peak, for MFU (never a hard-coded peak).

A run's peak is measured once per machine: `system_peak_flops` caches it per (backend,
device kind, device count, dtype; on CPU also the processor) in
$ATTNLAB_CACHE_DIR/peak_flops.json (default ~/.cache/attnlab); delete that file to measure
again, or set train.peak_flops.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp

from model import encoder
from model.layers import TransformerConfig
from model.rnn import LSTMConfig
from train import cli
from train import workdir as workdir_lib


def stack_flops_per_token(cfg: TransformerConfig, seq_len: int) -> float:
  """Training FLOPs per token of cfg's layer stack alone (no embeddings, no output): 6 x
  its matmul params + 12 x layers x seq_len x attention width (Kaplan et al. 2020 / PaLM
  appendix B)."""
  d, layers = cfg.d_model, cfg.num_layers
  q_width, kv_width = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
  mlp_mats = 3 if cfg.activation in ("swiglu", "geglu") else 2
  per_layer = d * (2 * q_width + 2 * kv_width) + mlp_mats * d * cfg.mlp_dim
  return 6.0 * layers * per_layer + 12.0 * layers * seq_len * q_width


def flops_per_token(cfg: TransformerConfig | LSTMConfig, seq_len: int) -> float:
  """Training FLOPs per token of a language model (GPT decoder or LSTM): its stack plus
  the d x vocab output projection."""
  if isinstance(cfg, LSTMConfig):  # 4 gates × (input + recurrent) matmuls per layer
    d = cfg.d_model
    return 6.0 * (cfg.num_layers * 8 * d * d + d * cfg.vocab_size)
  return stack_flops_per_token(cfg, seq_len) + 6.0 * cfg.d_model * cfg.vocab_size


def encoder_flops_per_token(cfg: TransformerConfig, seq_len: int, embed_dim: int = 0,
                            heads: tuple[str, ...] = ("mlm",), num_classes: int = 0) -> float:
  """Training FLOPs per token of a BERT-family encoder (model/encoder.py) running `heads`.

  The stack, the embed_dim -> d_model projection when the tables are narrower (ALBERT),
  and per position: mlm (d x embed_dim transform + embed_dim x vocab output), rtd (d x d
  transform + 1 logit), num_classes > 0 a d x num_classes tagger. Heads that run once per
  row (NSP/SOP, a classifier's pooler) are left out: one row's work, not a token's.
  """
  d, e = cfg.d_model, embed_dim or cfg.d_model
  out = stack_flops_per_token(cfg, seq_len) + (6.0 * e * d if e != d else 0.0)
  if "mlm" in heads:
    out += 6.0 * (d * e + e * cfg.vocab_size)
  if "rtd" in heads:
    out += 6.0 * (d * d + d)
  return out + 6.0 * d * num_classes


def electra_flops_per_token(cfg: TransformerConfig, seq_len: int, generator_ratio: float,
                            embed_dim: int = 0) -> float:
  """Training FLOPs per token of ELECTRA pretraining: the discriminator (rtd) plus the
  generator (mlm at generator_ratio of the width, on the shared embed_dim-wide tables)."""
  e = embed_dim or cfg.d_model
  generator = encoder.generator_config(cfg, generator_ratio)
  return (encoder_flops_per_token(cfg, seq_len, e, ("rtd",))
          + encoder_flops_per_token(generator, seq_len, e, ("mlm",)))


def encoder_decoder_flops_per_token(cfg: TransformerConfig, decoder_layers: int,
                                    inputs_len: int, targets_len: int) -> float:
  """Training FLOPs of one row per input token (data.seq_len, what tokens/s counts): the
  encoder over inputs_len, the decoder over targets_len with cross-attention to the
  inputs (its q and o projections and attention per target, k and v per input and
  decoder layer) and the output projection over the targets."""
  d = cfg.d_model
  q_width, kv_width = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
  decoder = dataclasses.replace(cfg, num_layers=decoder_layers)
  cross = decoder_layers * (6.0 * 2 * d * q_width + 12.0 * inputs_len * q_width)
  row = (inputs_len * stack_flops_per_token(cfg, inputs_len)
         + targets_len * (stack_flops_per_token(decoder, targets_len) + cross
                          + 6.0 * d * cfg.vocab_size)
         + inputs_len * decoder_layers * 6.0 * 2 * d * kv_width)
  return row / inputs_len


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


def peak_cache_key(dtype=jnp.float32) -> str:
  """What a cached peak is valid for: backend, device kind and count, dtype; on CPU also
  the processor (model, ISA, usable cores), since device kind "cpu" names none of them and
  one cache directory may serve many machines (a shared home directory)."""
  key = f"{jax.default_backend()}/{jax.devices()[0].device_kind}/{jax.device_count()}"
  if jax.default_backend() == "cpu":
    host = cli.machine()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    key += (f"/{host.get('cpu', '?')}/{'+'.join(host.get('isa', []))}/"
            f"{usable or host['cores']}cores")
  return f"{key}/{jnp.dtype(dtype).name}"


def system_peak_flops(dtype=jnp.float32) -> float:
  """measure_system_peak_flops(dtype), measured once per machine (peak_cache_key) and then
  read from <cache_dir>/peak_flops.json; an unreadable or unwritable cache only costs a
  measurement."""
  key = peak_cache_key(dtype)
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
