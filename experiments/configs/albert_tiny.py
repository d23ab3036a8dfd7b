"""A tiny ALBERT: one shared block at every layer, factorized embeddings, MLM + SOP.

Command:
  python -m train.main --config=experiments/configs/albert_tiny.py --workdir=runs/albert
Runtime: measured only as a 100-step run (--config.train.steps=100) on the shared 2-core
  CPU (less loaded than the other three's runs): 119 s in all (~3,200 tokens/s = ~0.6
  s/step, final eval); extrapolated, the 500 steps take ~6 min (~12 min at the load
  bert_tiny's run saw).
Result: after that 100-step run (its own schedule), train MLM loss 6.34 / masked accuracy
  8.3%, SOP accuracy 0.50 (chance); validation 6.32 / 6.6%, SOP 0.47 (87 pairs);
  311,940 params vs bert_tiny's 1.12M. The full 500-step run was not measured.
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.objective = "sop"
  c.model.share_layers = True
  c.model.embed_dim = 32  # E < d_model=128, projected up (ALBERT's E=128 for H=768)
  return c
