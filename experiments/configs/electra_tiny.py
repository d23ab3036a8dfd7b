"""A tiny ELECTRA: 1/4-width generator (MLM) + discriminator (replaced tokens), lambda=50.

Command:
  python -m train.main --config=experiments/configs/electra_tiny.py --workdir=runs/electra
Runtime: the full 500 steps took 212 s wall (3.5 min) on the 2-core CPU, nearly idle at
  the time (~7,500 tokens/s), the final eval of both networks over the whole validation
  split (537k tokens) included; the 100-step run under heavy load had taken 588 s.
Result (500 steps): validation generator MLM loss 5.71 / accuracy 10.7%; discriminator
  accuracy 0.856 = the all-"original" baseline (1 - replaced rate 0.144), precision 0.81,
  recall 0.004, AUC 0.536 (0.42 at step 200): it has not yet learned to spot the
  generator's replacements on real text at this budget (it does on an easy, memorised
  text: tests/test_encoder_objectives.py, AUC 0.96 in 250 steps; and see
  experiments/results/electra_vs_mlm for what that means after fine-tuning).
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.objective = "electra"
  c.model.family = "electra"
  c.model.generator_ratio = 0.25
  c.data.masking = "dynamic"
  return c
