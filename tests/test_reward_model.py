"""reward_model (train/tasks/reward_model.py): preference pairs, Bradley-Terry, accuracy."""
import json

import numpy as np
import pytest

import data
from data import labelled_files
from tests import tiny
from train import experiment
from train import loop
from train import tasks

GOOD = ["fine", "great", "lovely", "superb", "good", "kind"]
BAD = ["awful", "dull", "poor", "rude", "bad", "grim"]


def write_pairs(path, n, seed):
  """Prompts with two replies: the chosen one says a word of GOOD, the rejected of BAD."""
  rng = np.random.default_rng(seed)
  with open(path, "w") as f:
    for _ in range(n):
      prompt = f"the {rng.choice(['film', 'play', 'book', 'meal'])} was "
      f.write(json.dumps({"prompt": prompt, "chosen": f"{rng.choice(GOOD)}.",
                          "rejected": f"{rng.choice(BAD)}."}) + "\n")
  return str(path)


def config(tmp_path, **train):
  c = tiny.tiny_config(str(tmp_path / "unused.txt"), str(tmp_path / "tfds"), **train)
  c.objective, c.data.dataset, c.data.files = "reward_model", "preference_jsonl", ""
  c.data.train_files = write_pairs(tmp_path / "train.jsonl", 400, seed=0)
  c.data.validation_files = write_pairs(tmp_path / "valid.jsonl", 64, seed=1)
  c.sample.num_samples = 0
  return c


def test_bad_lines_name_the_file_and_line(tmp_path):
  path = tmp_path / "p.jsonl"
  path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a"}\n')
  with pytest.raises(ValueError, match=r"p\.jsonl:2: a preference line is a JSON object"):
    labelled_files.read_preference_jsonl(str(path))


def test_batches_hold_both_full_texts(tmp_path):
  c = config(tmp_path)
  tok = data.build_tokenizer(c.data, None, lambda: data.iter_texts(c.data, "train"))
  task = tasks.for_config(c)
  batch = next(iter(task.make_dataset(c.data, tok, "validation", seed=0, train=False)))
  task.check_batch(batch)
  first = labelled_files.read_preference_jsonl(c.data.validation_files)[0]
  chosen = tok.decode(batch["chosen"][0][batch["chosen"][0] > 0])
  assert chosen == first["prompt"] + first["chosen"]
  assert batch["pair_weight"].shape == (c.data.batch_size, 1)


def test_reward_model_learns_the_preference(tmp_path):
  """The chosen word decides; a tiny GPT with a reward head ranks held-out pairs."""
  c = config(tmp_path, steps=150)
  experiment.validate(c)
  final = loop.train_and_evaluate(c, str(tmp_path / "run"))
  train_rows = tiny.metrics_rows(str(tmp_path / "run"))
  assert train_rows[0]["accuracy"] < 0.8  # not solved at the start
  assert final["accuracy"] > 0.95 and final["margin"] > 1.0, final
  assert final["loss"] < 0.3 and final["tokens"] == 64
