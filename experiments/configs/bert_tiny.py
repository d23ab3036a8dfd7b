"""A tiny BERT (MLM + NSP) on the Python standard library's sources (no download).

Command:
  python -m train.main --config=experiments/configs/bert_tiny.py --workdir=runs/bert
Runtime: measured only as a 100-step run (--config.train.steps=100) on the shared 2-core
  CPU under load from other jobs: 177 s in all (tokenizer, compile, ~1,500 tokens/s =
  ~1.4 s/step, final eval); extrapolated, the 500 steps take ~12 min under that load,
  less on an idle machine.
Result: after that 100-step run (its own schedule), train MLM loss 5.90 / masked accuracy
  8.2%, NSP accuracy 0.51 (chance); validation 5.90 / 6.6%, NSP 0.47 (87 pairs). The
  full 500-step run was not measured.
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
