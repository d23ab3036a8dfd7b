"""reward_model (train/tasks/reward_model.py): preference pairs, Bradley-Terry, accuracy."""
import numpy as np
import pytest

import data
from data import labelled_files
from eval import rewards
from tests import tiny
from train import experiment
from train import loop
from train import tasks


def config(tmp_path, **train):
  return tiny.preference_config(tmp_path, "reward_model", **train)


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
  response = tok.decode(batch["chosen"][0][batch["chosen_mask"][0] > 0])
  assert response == first["chosen"]  # the mask covers the response, not the prompt
  assert batch["pair_weight"].shape == (c.data.batch_size, 1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("rm")
  # no periodic evaluation or checkpoint: the tests read the first train row and the end
  c = config(root, steps=150, eval_every=150, checkpoint_every=150)
  experiment.validate(c)
  return str(root / "run"), loop.train_and_evaluate(c, str(root / "run"))


def test_reward_model_learns_the_preference(trained):
  """The chosen word decides; a tiny GPT with a reward head ranks held-out pairs."""
  run, final = trained
  train_rows = tiny.metrics_rows(run)
  assert train_rows[0]["accuracy"] < 0.8  # not solved at the start
  assert final["accuracy"] > 0.95 and final["margin"] > 1.0, final
  assert final["loss"] < 0.3 and final["tokens"] == 64


def test_its_workdir_is_a_reward_function(trained):
  """eval/rewards.py reads the run as r(prompt, response): good words above bad ones."""
  score = rewards.from_workdir(trained[0], "reward")
  prompts = ["the film was "] * 4 + ["the meal was "] * 4
  responses = ["great.", "lovely.", "kind.", "fine.", "awful.", "dull.", "grim.", "rude."]
  r = score(prompts, responses)
  assert r.shape == (8,) and r.dtype == np.float32
  good, bad = r[[0, 1, 2, 3]], r[[4, 5, 6, 7]]
  assert good.min() > bad.max(), r
  with pytest.raises(ValueError, match="reads a classifier"):
    rewards.from_workdir(trained[0], "prob:1")
