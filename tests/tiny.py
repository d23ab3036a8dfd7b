"""Shared tiny configs for tests: a char-level corpus that a 2-layer GPT learns in seconds."""
import json
import os
import re

import numpy as np

from experiments.configs import base
from train import loop

CORPUS = (
    "the quick brown fox jumps over the lazy dog.\n"
    "a stitch in time saves nine.\n"
    "all that glitters is not gold.\n"
    "to be or not to be, that is the question.\n"
) * 40


def program_text(compiled) -> str:
  """A compiled step's HLO without its source tables and op metadata: equal for the same
  program traced twice (as_text() is not: its stack frames differ between traces)."""
  lines = compiled.as_text().splitlines()
  start = next(i for i, line in enumerate(lines) if line.startswith(("%", "ENTRY")))
  return re.sub(r", metadata=\{[^{}]*\}", "", "\n".join(lines[start:]))


def metrics_rows(workdir: str, split: str = "train") -> list[dict]:
  """The rows of <workdir>/metrics.jsonl logged for `split` (train, eval, final_eval)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if r["split"] == split]


def write_corpus(directory: str, text: str = CORPUS) -> str:
  path = os.path.join(directory, "corpus.txt")
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return path


def tiny_config(corpus_path: str, data_dir: str, **train_overrides):
  """A 2-layer, 32-wide GPT on `corpus_path` (char tokenizer), 80 steps, quiet, on one
  device: tests of a layout set mesh.* themselves (8 simulated devices cost ~30 % more
  time at this size)."""
  c = base.get_config()
  c.data.dataset = "text_files"
  c.data.files = corpus_path
  c.data.data_dir = data_dir
  c.data.tokenizer = "char"
  c.data.add_eos = False
  c.data.seq_len = 32
  c.data.batch_size = 8
  c.data.shuffle_buffer = 16
  c.model.d_model = 32
  c.model.num_layers = 2
  c.model.num_heads = 4
  c.model.mlp_dim = 64
  c.model.max_len = 32
  c.train.steps = 80
  c.train.learning_rate = 1e-2
  c.train.end_learning_rate = 1e-3
  c.train.warmup_steps = 5
  c.train.log_every = 1
  c.train.eval_every = 20
  c.train.eval_batches = 2
  c.train.checkpoint_every = 20
  c.train.progress = False
  c.sample.num_samples = 1
  c.sample.max_new_tokens = 8
  c.mesh.data = 1
  c.update_from_flattened_dict({f"train.{k}": v for k, v in train_overrides.items()})
  return c


GOOD = ["fine", "great", "lovely", "superb", "good", "kind"]
BAD = ["awful", "dull", "poor", "rude", "bad", "grim"]


def write_preference_pairs(path, n: int, seed: int) -> str:
  """n JSON lines {prompt, chosen, rejected}: the chosen reply says a word of GOOD, the
  rejected one a word of BAD."""
  rng = np.random.default_rng(seed)
  with open(path, "w") as f:
    for _ in range(n):
      prompt = f"the {rng.choice(['film', 'play', 'book', 'meal'])} was "
      f.write(json.dumps({"prompt": prompt, "chosen": f"{rng.choice(GOOD)}.",
                          "rejected": f"{rng.choice(BAD)}."}) + "\n")
  return str(path)


def preference_config(tmp_path, objective: str, **train_overrides):
  """tiny_config on 400 synthetic train pairs and 64 validation pairs (preference_jsonl)."""
  c = tiny_config(str(tmp_path / "unused.txt"), str(tmp_path / "tfds"), **train_overrides)
  c.objective, c.data.dataset, c.data.files = objective, "preference_jsonl", ""
  c.data.train_files = write_preference_pairs(tmp_path / "train.jsonl", 400, seed=0)
  c.data.validation_files = write_preference_pairs(tmp_path / "valid.jsonl", 64, seed=1)
  c.sample.num_samples = 0
  return c


PROMPTS = ["the quick", "a stitch", "all that", "to be or", "the lazy", "saves", "is not",
           "that is the"]


def write_prompts(path, prompts=PROMPTS) -> str:
  with open(path, "w") as f:
    f.write("\n".join(prompts) + "\n")
  return str(path)


def rl_config(tmp_path, objective: str = "grpo", reward: str = "token:e",
              **train_overrides):
  """tiny_config's model on prompt_lines (tiny.PROMPTS: the first words of CORPUS lines)
  for an RL objective (grpo, ppo): 8-token prompts, continuations of 16 tokens (grpo:
  groups of 4), one device."""
  c = tiny_config(str(tmp_path / "unused.txt"), str(tmp_path / "tfds"), **train_overrides)
  c.objective, c.data.dataset, c.data.files = objective, "prompt_lines", ""
  c.data.train_files = write_prompts(tmp_path / "prompts_train.txt")
  c.data.validation_files = write_prompts(tmp_path / "prompts_valid.txt")
  c.data.seq_len, c.data.batch_size, c.data.shuffle_buffer = 8, 4, 1
  c.rl.max_new_tokens, c.rl.reward = 16, reward
  c.sample.num_samples = 0
  return c


def train_sft(root, steps: int = 20) -> str:
  """A causal LM trained on CORPUS in root/sft (one device, no samples): the policy an RL
  test starts from; its workdir."""
  c = tiny_config(write_corpus(str(root)), str(root / "tfds_sft"), steps=steps)
  c.sample.num_samples = 0
  loop.train_and_evaluate(c, str(root / "sft"))
  return str(root / "sft")
