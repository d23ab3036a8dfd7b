"""DPO (train/tasks/dpo.py) of a gpt_tiny policy on preference pairs, from a pretrained run.

Command (pairs are JSON lines {"prompt", "chosen", "rejected"}, one file per split; the
policy and its frozen reference both start from the init_from run):
  python -m train.main --config=experiments/configs/gpt_tiny.py --workdir=runs/sft
  python -m train.main --config=experiments/configs/dpo_tiny.py --workdir=runs/dpo \
      --config.init_from=runs/sft \
      --config.data.train_files=pairs_train.jsonl --config.data.validation_files=pairs_dev.jsonl
  python -m eval.generate --workdir=runs/dpo --prompt="..."   # the tuned policy
--config.preference.loss=ipo for IPO, --config.preference.label_smoothing=0.1 for
conservative DPO. Runtime and result: not measured on a real preference set yet;
tests/test_dpo.py learns a synthetic one.
"""
from experiments.configs import reward_model_tiny


def get_config():
  c = reward_model_tiny.get_config()  # gpt_tiny on preference_jsonl pairs, 300 steps
  c.objective = "dpo"
  c.preference.beta = 0.1
  c.train.learning_rate = 1e-4  # a small step away from the reference (DPO paper: 1e-6 at scale)
  c.train.end_learning_rate = 1e-5
  c.train.weight_decay = 0.0
  c.sample.num_samples = 3  # the tuned policy's samples
  return c
