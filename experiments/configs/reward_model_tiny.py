"""A reward model on gpt_tiny's backbone, learned from preference pairs (Bradley-Terry).

Command (pairs are JSON lines {"prompt", "chosen", "rejected"}, one file per split):
  python -m train.main --config=experiments/configs/reward_model_tiny.py --workdir=runs/rm \
      --config.data.train_files=pairs_train.jsonl --config.data.validation_files=pairs_dev.jsonl \
      [--config.init_from=runs/demo]   # a pretrained GPT fills the backbone
Runtime and result: not measured on a real preference set yet; tests/test_reward_model.py
  learns a synthetic one (validation pairwise accuracy 1.0 in 150 steps).
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.objective = "reward_model"
  c.data.dataset = "preference_jsonl"
  c.data.shuffle_buffer = 1  # pairs are shuffled as records
  c.train.steps = 300
  c.train.learning_rate = 1e-3
  c.train.end_learning_rate = 1e-4
  c.train.warmup_steps = 30
  c.train.eval_every = 100
  c.train.checkpoint_every = 100
  c.sample.num_samples = 0
  return c
