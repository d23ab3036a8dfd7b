"""gpt_tiny as a prefix LM: the prefix read both ways, the continuation predicted.

Command:
  python -m train.main --config=experiments/configs/prefix_lm_tiny.py --workdir=runs/prefix_lm
Runtime: 12 min 38 s wall (3 min 12 s user) on the 2-core CPU while three test jobs ran
  beside it; gpt_tiny's ~3 min on an idle machine is the better guide.
Result (2026-12-02): validation loss 4.167 (perplexity 64.5, accuracy 0.237) on the
  continuation tokens only; gpt_tiny reaches 3.977 on every token with the same steps,
  and the prefix LM's loss sees about half the tokens of each batch. Samples (prompt =
  prefix, prefilled both ways, then the KV cache) are weaker than gpt_tiny's.
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.objective = "prefix_lm"
  c.data.packing_mask = True  # a prefix must not see the next packed document
  return c
