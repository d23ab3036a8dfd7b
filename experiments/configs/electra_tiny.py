"""A tiny ELECTRA: 1/4-width generator (MLM) + discriminator (replaced tokens), lambda=50.

Command:
  python -m train.main --config=experiments/configs/electra_tiny.py --workdir=runs/electra
Runtime: measured only as a 100-step run (--config.train.steps=100) on the shared 2-core
  CPU under load from other jobs: 588 s in all (~950 tokens/s = ~2.2 s/step; the
  whole-validation final eval runs both networks over 537k tokens); extrapolated, the
  500 steps take ~20 min under that load, less on an idle machine.
Result: after that 100-step run (its own schedule), validation generator MLM loss 6.62 /
  accuracy 5.7%; the discriminator is still at the all-"original" baseline (accuracy
  0.852 vs 1 - replaced rate 0.853, AUC 0.49): it needs longer than 100 steps. The full
  500-step run was not measured.
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.objective = "electra"
  c.model.family = "electra"
  c.model.generator_ratio = 0.25
  c.data.masking = "dynamic"
  return c
