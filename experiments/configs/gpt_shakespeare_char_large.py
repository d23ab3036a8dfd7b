"""nanoGPT's full shakespeare_char config: 6 layers, 6 heads, 384 dims, block 256,
batch 64, 5000 steps, dropout 0.2 on the embeddings, the attention weights and each
residual branch, none inside the MLP (otherwise as gpt_shakespeare_char.py).

Command:
  python -m train.main --config=experiments/configs/gpt_shakespeare_char_large.py \
      --workdir=runs/shakespeare_char_large
Reference: nanoGPT reaches val loss 1.4697 at step 5000 (~3 min on one A100); on this
2-core CPU nanoGPT takes 12.5 s/step (1,310 tokens/s, 7 GiB). A benchmark, not a CPU job:
see README "Results" for attnlab's throughput here.
"""
from experiments.configs import gpt_shakespeare_char


def get_config():
  c = gpt_shakespeare_char.get_config()
  c.data.seq_len = 256
  c.data.batch_size = 64
  c.model.d_model = 384
  c.model.num_layers = 6
  c.model.num_heads = 6
  c.model.mlp_dim = 1536
  c.model.max_len = 256
  c.model.dropout = 0.2
  c.model.attention_dropout = 0.2
  c.model.mlp_dropout = 0.0
  c.train.steps = 5000
  c.train.eval_every = 500
  c.train.eval_batches = 50
  c.train.xla_cpu_scheduler = "memory"  # concurrency: temp buffers 5.2 -> 8.0 GiB
  return c
