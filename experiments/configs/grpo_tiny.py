"""GRPO (train/tasks/grpo.py) of a gpt_tiny policy on prompts, from a pretrained run.

Command (prompts: one per line, one file per split; the policy and its frozen reference
both start from the init_from run, whose tokenizer the run takes):
  python -m train.main --config=experiments/configs/gpt_tiny.py --workdir=runs/demo
  printf 'def \\nclass \\nimport \\nfor \\nif \\nreturn \\nwith \\nwhile \\n' > prompts.txt
  python -m train.main --config=experiments/configs/grpo_tiny.py --workdir=runs/grpo \\
      --config.init_from=runs/demo \\
      --config.data.train_files=prompts.txt --config.data.validation_files=prompts.txt
  python -m eval.generate --workdir=runs/grpo --prompt="def "   # the tuned policy
The reward is the toy token:self (the fraction of sampled tokens that are "self"); a
classifier or reward model run: --config.rl.reward=workdir --config.rl.reward_workdir=DIR
--config.rl.reward_spec=prob:1 (or reward).
Runtime: 2 min on the 2-core CPU under a load of ~8 (100 steps of 32 rollouts x 48 tokens
  at ~1 s each, final evaluation, samples), from a gpt_tiny run of 600 steps.
Result (2026-12-02, the 8 prompts above for both splits): reward (the fraction of "self"
  tokens) 0.013 at steps 1-10 -> 0.228 at the final evaluation, KL to the reference 43 nats
  per 48-token response: the samples are `self.assertEqual(self...` chains, the toy reward
  hacked at kl_coef 0.04.
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.objective = "grpo"
  c.data.dataset = "prompt_lines"
  c.data.seq_len = 16  # prompt tokens (the last 16 of each prompt, left-padded)
  c.data.batch_size = 8  # prompts per step: x rl.group_size = 32 rollouts
  c.data.shuffle_buffer = 1  # prompts are shuffled as records
  c.rl.group_size = 4
  c.rl.max_new_tokens = 48  # 16 + 48 <= model.max_len 128
  c.rl.reward = "token:self"
  c.rl.kl_coef = 0.04  # DeepSeekMath's
  c.train.steps = 100
  c.train.learning_rate = 1e-4
  c.train.end_learning_rate = 1e-5
  c.train.warmup_steps = 10
  c.train.weight_decay = 0.0
  c.train.log_every = 10
  c.train.eval_every = 50
  c.train.eval_batches = 1
  c.train.checkpoint_every = 50
  c.sample.num_samples = 3  # the tuned policy's samples
  return c
