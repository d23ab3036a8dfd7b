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
--config.rl.reward_spec=prob:1 (or reward). 100 updates: 25 rollout batches of 32 x 48
tokens, 4 passes each (rl.ppo_epochs).
Runtime: 83 s on the 2-core CPU (after a gpt_tiny run of 600 steps, 5.4 min here).
Result (2026-12-03, the 8 prompts above for both splits): reward 0.011 at step 10 -> 0.026
  at step 100, 0.052 at the final evaluation, KL to the reference 18.5 nats per 48-token
  response: PPO moves the tiny reward far less than grpo_tiny.py does (0.013 -> 0.228),
  whose group-normalised advantages blow a 0.02 reward difference up to +-1. With the
  base.py defaults (kl_coef 0.05, gae_lambda 0.95, lr 1e-4) the reward stays at 0.01 (KL
  2.3), presumably as the per-token KL penalties drown a reward of ~1/48 per "self".
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
  c.rl.kl_coef = 0.001  # in the per-token reward: a loose leash for a reward of ~0.02
  c.rl.gae_lambda = 1.0  # the last token's reward reaches every token undiscounted
  c.train.steps = 100  # updates
  c.train.learning_rate = 3e-4
  c.train.end_learning_rate = 3e-5
  c.train.warmup_steps = 10
  c.train.weight_decay = 0.0
  c.train.log_every = 10
  c.train.eval_every = 50
  c.train.eval_batches = 1
  c.train.checkpoint_every = 50
  c.sample.num_samples = 3  # the tuned policy's samples
  return c
