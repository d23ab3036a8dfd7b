"""ELECTRA vs MLM at four times electra_vs_mlm.py's pretraining budget (equal FLOPs still).

Published: Clark et al. 2020 (`../shared/reference/ablations.md` §2): at equal compute
ELECTRA-Small beats BERT-Small on GLUE. electra_vs_mlm.py's 500 steps left ELECTRA's
discriminator at its all-"original" start (AUC 0.53-0.54) behind a near-unigram
generator, and the MLM arm transferred little (73.1% vs 74.4% from scratch), so neither
arm was a fair test. Here both arms pretrain 4x longer (ELECTRA 2000 steps, MLM 2151:
the same FLOPs ratio, 1.0754); everything else, fine-tuning included (400 steps), is
electra_vs_mlm.py's.
Expected: the generator leaves unigram, the discriminator's AUC rises above what token
identity allows (0.54), and ELECTRA's fine-tuned accuracy closes on or passes MLM's.

  python -m experiments.sweep --sweep=experiments/sweeps/electra_vs_mlm_long.py \
      --workdir=/tmp/sweep_electra_long --seeds=3 --parallel=2

Runtime (2026-12-04): 86 min 14 s on the 2-core CPU (MLM runs 21-34 min, ELECTRA 18-40
min each, pretraining + fine-tuning; unit tests ran beside it for part of the time).
Result (experiments/results/electra_vs_mlm/README.md, "Four times longer"): SST-2 dev
accuracy MLM 72.1% ± 1.3 vs ELECTRA 54.3% ± 3.9 (p = 0.010): NOT reproduced. The
generator learned (masked accuracy 6.6-7.3% -> 10.9-11.2%) but the discriminator's AUC
stayed at 0.53-0.54 at every evaluation from step 200 to 1800.
"""
from experiments.sweeps import budget
from experiments.sweeps import electra_vs_mlm

ELECTRA_STEPS = 4 * electra_vs_mlm.ELECTRA_STEPS


def get_sweep():
  ratio = (electra_vs_mlm.pretrain_flops_per_token("electra")
           / electra_vs_mlm.pretrain_flops_per_token("bert"))
  mlm_steps = round(ELECTRA_STEPS * ratio)
  sweep = electra_vs_mlm.get_sweep()
  sweep["overrides"].update(budget.longer(ELECTRA_STEPS))
  sweep["axes"]["train.steps"] = [mlm_steps, ELECTRA_STEPS]
  sweep["baseline"]["train.steps"] = mlm_steps
  return sweep
