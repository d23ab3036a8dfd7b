"""nanoGPT's shakespeare_char CPU config, one to one: char-level tiny Shakespeare.

4 layers, 4 heads, 128 dims, block 64, batch 12, 2000 steps, dropout 0, AdamW lr 1e-3
(warmup 100, cosine to 1e-4), betas (0.9, 0.99), weight decay 0.1 on matrices (as nanoGPT,
the tied embedding too), grad clip 1.0, no biases, tied embeddings, learned positions,
pre-LN, GELU. First 90% of the file trains, the last 10% validates.

Command (from the repo root; the file ships in ../shared/data, or give any path):
  python -m train.main --config=experiments/configs/gpt_shakespeare_char.py \
      --workdir=runs/shakespeare_char \
      --config.data.files=../shared/data/tinyshakespeare/input.txt
Mid-run validation losses are 20-batch estimates (nanoGPT's CPU command evaluates 20 batches);
`--config.train.eval_batches=0` evaluates the whole split every 250 steps (~8 s more per run).
Benchmark of the whole run against nanoGPT's recipe: experiments/bench/run_wall.py.
Reference: nanoGPT on this machine reaches val loss 1.8857 at step 2000 (40-50 ms/step).
Result here: see README "Results".
"""
from experiments.configs import base


def get_config():
  c = base.get_config()
  c.data.dataset = "text_files"
  c.data.files = "../shared/data/tinyshakespeare/input.txt"
  c.data.tokenizer = "char"
  c.data.val_fraction = 0.1
  c.data.add_eos = False  # one continuous text stream, as nanoGPT
  c.data.shuffle_buffer = 16384  # windows shuffled over the whole train split (~15.7k)
  c.data.seq_len = 64
  c.data.batch_size = 12
  c.model.d_model = 128
  c.model.num_layers = 4
  c.model.num_heads = 4
  c.model.mlp_dim = 512
  c.model.max_len = 64
  c.model.dropout = 0.0
  c.model.use_bias = False
  c.model.tie_embeddings = True
  c.model.position = "learned"
  c.model.norm = "layernorm"
  c.model.norm_placement = "pre"
  c.model.activation = "gelu_exact"  # nanoGPT uses nn.GELU() (erf)
  c.train.steps = 2000
  c.train.optimizer = "adamw"
  c.train.learning_rate = 1e-3
  c.train.end_learning_rate = 1e-4
  c.train.warmup_steps = 100
  c.train.schedule = "cosine"
  c.train.b1 = 0.9
  c.train.b2 = 0.99
  c.train.weight_decay = 0.1
  c.train.decay_embeddings = True
  c.train.grad_clip = 1.0
  c.train.log_every = 50
  c.train.eval_every = 250
  c.train.eval_batches = 20  # mid-run estimates on 20 batches, as nanoGPT's CPU command
  #                            (--eval_iters=20); the final evaluation is the whole split
  c.train.checkpoint_every = 1000
  c.train.xla_cpu_scheduler = "concurrency"  # its small step: 2-7 % faster (base.py)
  c.sample.prompt = "ROMEO:"
  c.sample.max_new_tokens = 200
  return c
