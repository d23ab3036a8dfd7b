"""ELECTRA vs BERT-style masked-LM pretraining at equal compute, judged by SST-2 fine-tuning.

Published: Clark et al. 2020 (ELECTRA), Table 1 / Figure 3: at equal pretraining compute
ELECTRA-Small beats BERT-Small on GLUE dev (79.9 vs 75.1), because its discriminator
learns from every input token instead of the 15% that are masked.
Expected here: ELECTRA's fine-tuned SST-2 dev accuracy >= the MLM arm's; at this tiny
scale (a few hundred steps) the gap may well be within seed noise, or reversed if the
discriminator has not yet left its all-"original" start (see electra_tiny.py).

Each run pretrains (stage 1, bert_tiny's 4-layer 128-wide encoder, objective mlm or
electra with a 1/4-width generator) and is then fine-tuned (stage 2, `then`:
finetune_sst2.py, 400 steps, init_from the run, model.* carried over so the shapes fit);
the metric is the fine-tuned model's SST-2 dev accuracy at its last step (872 sentences;
`best_accuracy`, chosen on dev itself, is not used). `pretrain/<key>` columns in
results.csv hold stage 1's numbers.
Pretraining corpus: the SST-2 train sentences themselves (no labels; glue_tsv records,
packed into 128-token windows; dev is only evaluated). finetune_sst2.py measured that
300 MLM steps on Python source did NOT help SST-2 (68.3% vs 74.4% from scratch): a code
vocabulary and code statistics transfer little to movie reviews. In-domain unlabeled
text is a legitimate and cheap choice (no other corpus to download; ~3.6M characters),
and the tokenizer trained on it is exactly the one a from-scratch SST-2 run trains, so
both arms and the scratch number share one vocabulary (init_from copies it).
Equal compute: training FLOPs per token (6 x matmul params + attention, train/flops.py;
vocabulary 2049; pretrain_flops_per_token below): MLM 7.18 MFLOP (encoder + MLM head
over every position) vs ELECTRA 7.72 MFLOP (discriminator 5.60 without the vocabulary
projection + generator 2.11, most of it its 128 x V output layer): ratio 1.075, so
ELECTRA gets 500 steps and MLM 538 (same batch, 16 x 128 tokens, same schedule shape).
Measured throughput is NOT in that ratio on a CPU: ~4,800 vs ~2,700 tokens/s (x1.8,
40-step probes on the loaded 2-core machine): two small passes and sampling from the
generator's softmax cost more wall time than FLOPs; at equal wall time MLM would get
~1.8x the steps. The paper's comparison is by FLOPs, so this sweep is too.

  python -m experiments.sweep --sweep=experiments/sweeps/electra_vs_mlm.py \\
      --workdir=/tmp/sweep_electra --seeds=3 --parallel=2

Runtime: see the measured probe below (one seed of both arms, pretrain + fine-tune).
"""
ELECTRA_STEPS = 500
MLM_STEPS = 538  # ELECTRA_STEPS x pretrain_flops_per_token ratio (1.0754)


def pretrain_flops_per_token(objective: str, vocab_size: int = 2049) -> float:
  """Training FLOPs per token of bert_tiny pretrained with `objective` (mlm | electra).

  MLM: the encoder with its vocabulary output, plus the head's d x d transform. ELECTRA:
  the discriminator (a d x d transform and a 1-logit head instead of the vocabulary
  output) plus the generator (generator_config: 1/4 width, same depth; its embeddings are
  the shared d-wide table, projected in and out, so its output layer is d x V).
  """
  from experiments.configs import bert_tiny
  from model import encoder
  from model import layers
  from train import flops

  c = bert_tiny.get_config()
  c.model.vocab_size = vocab_size
  cfg = layers.TransformerConfig.from_config(c.model)
  d, v, t = cfg.d_model, cfg.vocab_size, c.data.seq_len
  encoder_flops = flops.flops_per_token(cfg, t)  # includes the d x V output
  if objective == "mlm":
    return encoder_flops + 6 * d * d
  if objective != "electra":
    raise ValueError(f"objective must be mlm or electra, got {objective!r}")
  disc = encoder_flops - 6 * d * v + 6 * (d * d + d)
  g = encoder.generator_config(cfg, c.model.generator_ratio)
  gen = flops.flops_per_token(g, t) - 6 * g.d_model * v + 6 * (
      d * v + 2 * d * g.d_model)
  return disc + gen


def get_sweep():
  return {
      "base": "experiments/configs/bert_tiny.py",
      "overrides": {
          "data.dataset": "glue_tsv",  # the SST-2 train sentences, labels unused
          "data.files": "../shared/data/sst2",
          "data.text_key": "sentence",
          "data.masking": "dynamic",  # both arms (ELECTRA samples fresh masks anyway)
          "train.warmup_steps": 50,
          "train.log_every": 25,
          "train.eval_every": 250,
          "train.eval_batches": 0,  # dev is small (~4k tokens)
          "train.checkpoint_every": 1000,  # the last step is always saved
          "train.progress": False,
      },
      "zip": True,
      "axes": {"objective": ["mlm", "electra"], "model.family": ["bert", "electra"],
               "train.steps": [MLM_STEPS, ELECTRA_STEPS]},
      "then": {"base": "experiments/configs/finetune_sst2.py",
               "overrides": {"train.progress": False},
               "carry": ["model."], "dir": "finetune"},
      "metric": "accuracy",
      "higher_is_better": True,
      "also": ("macro_f1", "loss"),
      "baseline": {"objective": "mlm", "model.family": "bert", "train.steps": MLM_STEPS},
  }
