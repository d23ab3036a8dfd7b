"""The gold reward of the controlled-sentiment experiment: an SST-2 sentiment classifier on
the reference policy's backbone (gpt_tiny, last-token pooling), so it reads the policy's
token ids and can score rollouts inside the RL train step (experiments/sentiment.py).

Command:
  python -m train.main --config=experiments/configs/sst2_gpt_classifier.py \
      --workdir=runs/sentiment/gold --config.init_from=runs/sentiment/sft
Reward spec: prob:1 (P(positive)).
Runtime: 2 min 11 s on the idle 2-core CPU (600 steps of 32 sentences).
Result (2026-12-03): dev accuracy 75.9 % (majority 50.9 %), loss 0.501; as a judge of
  the reference's samples its mean P(positive) is 0.537 (experiments/results/sentiment).
"""
from experiments.configs import finetune_sst2
from experiments.configs import sst2_gpt


def get_config():
  c = finetune_sst2.get_config()
  c.model = sst2_gpt.get_config().model  # the policy's backbone: init_from checks the shapes
  c.model.dropout = 0.1
  c.data.tokenizer = "sentencepiece"
  c.data.vocab_size = 2048
  c.task.pooling = "last"
  c.train.learning_rate = 3e-4
  c.train.steps = 600
  c.train.warmup_steps = 60
  c.train.checkpoint_every = 300
  return c
