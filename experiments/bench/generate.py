"""Generation speed: prefill and decode tokens/s, KV cache vs recomputing the window.

  python -m experiments.bench.generate --config=experiments/configs/gpt_shakespeare_char_large.py \
      [--batch_sizes=1,8] [--new_tokens=512] [--prompt_len=64] [--modes=cached,recompute]

Random-init params of the config's model (speed does not depend on training), the
project's own decode loop (eval/sampling.py: one jit-compiled while_loop), greedy with no
EOS so every row makes all `new_tokens`. Each measurement runs once to compile, then is
timed on a second call. Prints a table, then one JSON line per row.
"""
from __future__ import annotations

import json
import time

from absl import flags
from ml_collections import config_flags
from train import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (experiments/configs/*.py).", lock_config=False)
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "8"], "Rows decoded together.")
_NEW_TOKENS = flags.DEFINE_integer("new_tokens", 512, "Tokens generated per row.")
_PROMPT_LEN = flags.DEFINE_integer("prompt_len", 64, "Prompt tokens per row.")
_MODES = flags.DEFINE_list("modes", ["cached", "recompute"], "cached and/or recompute.")
_VOCAB = flags.DEFINE_integer("vocab_size", 65, "Vocabulary (65: Tiny Shakespeare chars).")
flags.mark_flags_as_required(["config"])


def _timed(fn) -> tuple[float, object]:
  fn()  # compile
  start = time.perf_counter()
  out = fn()
  return time.perf_counter() - start, out


def main(argv):
  del argv
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  import numpy as np

  import model as model_lib
  from eval import decode_speed
  from eval import sampling

  cfg = _CONFIG.value.model
  cfg.vocab_size = _VOCAB.value
  model = model_lib.build(cfg)
  params = nn.meta.unbox(model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))
                         ["params"])
  n_params = sum(x.size for x in jax.tree.leaves(params))
  rows = []
  for b in map(int, _BATCH_SIZES.value):
    prompts = np.random.default_rng(0).integers(3, _VOCAB.value, (b, _PROMPT_LEN.value))
    for mode in _MODES.value:
      fns = sampling.model_fns(model, cached=mode == "cached")
      p = min(_PROMPT_LEN.value, cfg.max_len - 1)
      mask = jnp.ones((b, min(p + _NEW_TOKENS.value, cfg.max_len)), bool)
      toks = jnp.asarray(prompts[:, -p:], jnp.int32)
      pos = jnp.broadcast_to(jnp.arange(p)[None], toks.shape)
      prefill = jax.jit(fns.prefill)
      t_prefill, _ = _timed(lambda: jax.block_until_ready(prefill(params, toks, pos, mask)))
      speed, outs = decode_speed.decode_tokens_per_sec(
          model, params, batch=b, prompt_len=p, new_tokens=_NEW_TOKENS.value,
          max_len=cfg.max_len, vocab_size=_VOCAB.value, cached=mode == "cached")
      assert all(len(o) == _NEW_TOKENS.value for o in outs)
      rows.append(dict(mode=mode, batch=b, prompt_len=p, new_tokens=_NEW_TOKENS.value,
                       max_len=cfg.max_len, params=n_params,
                       prefill_tokens_per_sec=b * p / t_prefill,
                       decode_tokens_per_sec=speed,
                       generate_seconds=b * _NEW_TOKENS.value / speed, tokens=outs[0][:16]))
  print(f"{'mode':>10} {'batch':>5} {'prefill tok/s':>14} {'decode tok/s':>13} {'seconds':>8}")
  for r in rows:
    print(f"{r['mode']:>10} {r['batch']:>5} {r['prefill_tokens_per_sec']:>14.0f} "
          f"{r['decode_tokens_per_sec']:>13.1f} {r['generate_seconds']:>8.2f}")
  for b in sorted({r["batch"] for r in rows}):
    by = {r["mode"]: r for r in rows if r["batch"] == b}
    if len(by) == 2:
      same = by["cached"]["tokens"] == by["recompute"]["tokens"]
      print(f"batch {b}: cached decode is "
            f"{by['cached']['decode_tokens_per_sec'] / by['recompute']['decode_tokens_per_sec']:.1f}x "
            f"recompute; same greedy tokens: {same}")
  for r in rows:
    print(json.dumps({k: v for k, v in r.items() if k != "tokens"}))


if __name__ == "__main__":
  cli.run(main)
