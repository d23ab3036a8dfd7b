"""A tiny BERT (MLM + NSP) on the Python standard library's sources (no download).

Command:
  python -m train.main --config=experiments/configs/bert_tiny.py --workdir=runs/bert
Runtime: 133 s (2.2 min) for the 500 steps on the idle 2-core CPU (~9,200 tokens/s,
  tokenizer and final eval included); 22 min under heavy load from other jobs gave the
  identical numbers below (deterministic).
Result (500 steps): train MLM loss 5.49 / masked accuracy 12.8%, NSP accuracy 0.51;
  validation 5.53 / 11.8% (perplexity 251; 5.73 / 9.7% at step 200), NSP 0.52 (87 pairs):
  masked-LM learns steadily, NSP stays at chance at this budget (1.12M params).
BERT's choices are config values: post-norm, GELU, learned positions, biases, static
masking (dupe_factor copies), [CLS] A [SEP] B [SEP] pairs with NSP. roberta_tiny,
albert_tiny and electra_tiny start from this config.
"""
from experiments.configs import base


def get_config():
  c = base.get_config()
  c.objective = "mlm_nsp"
  c.model.family = "bert"
  c.model.norm_placement = "post"
  c.model.activation = "gelu"
  c.model.position = "learned"
  c.model.use_bias = True
  c.model.d_model = 128
  c.model.num_layers = 4
  c.model.num_heads = 4
  c.model.mlp_dim = 512
  c.model.max_len = 128
  c.data.dataset = "python_stdlib"
  c.data.tokenizer = "sentencepiece"
  c.data.vocab_size = 2048
  c.data.spm_max_chars = 2_000_000
  c.data.mask_token = True
  c.data.masking = "static"
  c.data.dupe_factor = 10
  c.data.seq_len = 128
  c.data.batch_size = 16
  c.train.steps = 500
  c.train.learning_rate = 1e-3
  c.train.end_learning_rate = 1e-4
  c.train.warmup_steps = 50
  c.train.weight_decay = 0.01
  c.train.log_every = 25
  c.train.eval_every = 200
  c.train.eval_batches = 10
  c.train.checkpoint_every = 200
  c.sample.num_samples = 0  # an encoder does not generate
  return c
