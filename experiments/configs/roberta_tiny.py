"""A tiny RoBERTa: MLM only, dynamic masking, FULL-SENTENCES packing (no NSP, no pairs).

Command:
  python -m train.main --config=experiments/configs/roberta_tiny.py --workdir=runs/roberta
Runtime: 161 s (2.7 min) for the 500 steps on the idle 2-core CPU (~7,700 tokens/s),
  the final eval over the whole validation split (80k masked tokens) included; 28 min
  under heavy load from other jobs gave the identical numbers below (deterministic).
Result (500 steps): train MLM loss 5.48 / masked accuracy 12.5%; validation 5.58 / 12.4%
  (perplexity 264; 6.25 / 10.1% at step 200 on 3k masked tokens), 1.12M params: about
  bert_tiny's MLM numbers (5.53 / 11.8%) without NSP's pairs.
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.objective = "mlm"  # packed windows across documents, EOS = [SEP] between them
  c.data.masking = "dynamic"  # fresh masks every step
  return c
