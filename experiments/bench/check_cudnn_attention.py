"""On a GPU: the cuDNN attention path against the XLA reference (bf16 inputs).

  python -m experiments.bench.check_cudnn_attention
Prints the max abs difference for causal, padded-causal and GQA cases; exits 1 if any
exceeds the bf16 tolerance. (CPU tests cover 'xla' vs 'jax'; cuDNN needs a GPU.)
"""
import sys

import jax
import jax.numpy as jnp

from model import attention


def main() -> int:
  key = jax.random.PRNGKey(0)
  worst = 0.0
  for name, (kv_heads, padded) in {"causal": (8, False), "causal_padded": (8, True),
                                   "gqa_causal": (2, False)}.items():
    kq, kk, kv = jax.random.split(jax.random.fold_in(key, kv_heads + padded), 3)
    q = jax.random.normal(kq, (2, 256, 8, 64), jnp.bfloat16)
    k = jax.random.normal(kk, (2, 256, kv_heads, 64), jnp.bfloat16)
    v = jax.random.normal(kv, (2, 256, kv_heads, 64), jnp.bfloat16)
    mask = None
    if padded:
      mask = (jnp.arange(256)[None, :] < jnp.array([256, 100])[:, None])[:, None, None, :]
    ref = attention.dot_product_attention(q, k, v, mask=mask, causal=True)
    got = attention.dot_product_attention(q, k, v, mask=mask, causal=True,
                                          implementation="cudnn")
    diff = float(jnp.max(jnp.abs(ref.astype(jnp.float32) - got.astype(jnp.float32))))
    worst = max(worst, diff)
    print(f"{name}: max |cudnn - xla| = {diff:.4f}")
  return 0 if worst < 0.05 else 1


if __name__ == "__main__":
  sys.exit(main())
