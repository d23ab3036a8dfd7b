"""Multi-head vs grouped-query vs multi-query attention: quality and decode speed.

Published: Shazeer 2019 (MQA): much faster incremental decoding, minor quality loss;
Ainslie et al. 2023 (GQA, T5-XXL): MQA 6.3x faster at -0.6 average score, GQA-8 5.4x at
-0.1 vs MHA. The speed-up is memory bandwidth: a smaller KV cache to read every step.
Expected here: validation loss MHA <= GQA <= MQA by a few hundredths of a nat (fewer
key/value params); decode tokens/s (final.json `decode_tokens_per_sec`, greedy with the
KV cache, batch 8, 112 new tokens) at most slightly higher for fewer kv heads — at 1M
params and a 128-token context on a CPU the cache is tiny and compute-bound, so the
published speed-up should NOT be expected to show (ablations.md §7 caveat).

  python -m experiments.sweep --sweep=experiments/sweeps/kv_heads.py \\
      --workdir=/tmp/sweep_kv --seeds=3 --parallel=2

Runtime (measured 2026-11-30): 13 min at --parallel=2 on the 2-core CPU (156-170 s a run).
Result (experiments/results/kv_heads/): loss MHA 4.302, GQA-2 4.315, MQA 4.309 (within
noise); decode 6.8k / 7.7k / 13.1k tokens/s (MQA 1.9x, p = 0.02).
"""
from experiments.sweeps import budget


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": dict(budget.STDLIB_SMALL_CPU, **{"sample.decode_speed_tokens": 112}),
      "axes": {"model.num_kv_heads": [4, 2, 1]},
      "metric": "loss",
      "also": ("decode_tokens_per_sec",),
      "baseline": {"model.num_kv_heads": 4},
  }
