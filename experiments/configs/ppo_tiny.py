"""PPO (train/tasks/ppo.py) of a gpt_tiny policy with a value head on prompts, from a
pretrained run.

Command (prompts: one per line, one file per split; init_from fills the policy's backbone
and its frozen reference, the value head starts fresh; the run takes the source's
tokenizer):
  python -m train.main --config=experiments/configs/gpt_tiny.py --workdir=runs/demo
  printf 'def \\nclass \\nimport \\nfor \\nif \\nreturn \\nwith \\nwhile \\n' > prompts.txt
  python -m train.main --config=experiments/configs/ppo_tiny.py --workdir=runs/ppo \\
      --config.init_from=runs/demo \\
      --config.data.train_files=prompts.txt --config.data.validation_files=prompts.txt
  python -m eval.generate --workdir=runs/ppo --prompt="def "   # the tuned policy
The reward is the toy token:self (the fraction of sampled tokens that are "self"), paid at
a response's last token, with -rl.kl_coef (logp - ref) at every token; a classifier or
reward model run: --config.rl.reward=workdir --config.rl.reward_workdir=DIR
--config.rl.reward_spec=prob:1 (or reward).
Runtime and result: not measured yet at this size (tests/test_ppo.py measures the tiny
test model: the toy reward from 0.08 to 0.33 in 12 steps).
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.objective = "ppo"
  c.data.dataset = "prompt_lines"
  c.data.seq_len = 16  # prompt tokens (the last 16 of each prompt, left-padded)
  c.data.batch_size = 32  # prompts per step, one rollout each (the 8 prompts, repeated)
  c.data.shuffle_buffer = 1  # prompts are shuffled as records
  c.rl.max_new_tokens = 48  # 16 + 48 <= model.max_len 128
  c.rl.reward = "token:self"
  c.rl.kl_coef = 0.05  # in the reward (Ziegler et al.'s sentiment runs: 0.1 adaptive)
  c.rl.gamma = 1.0
  c.rl.gae_lambda = 0.95
  c.rl.vf_coef = 0.1
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
