"""experiments/sentiment.py's prompts (sentiment_spec.py) and commands, and experiments/sentiment_plot.py's
frontier summary, on made-up runs (the experiment itself is hours of training)."""
import json
import os

import numpy as np
import pytest

from experiments import sentiment_spec as sentiment
from experiments import sentiment_plot
from experiments import sweep_spec


def test_prompts_are_distinct_leading_words_of_sentences_that_go_on():
  sentences = ["the film is a delight .", "the film is dull", ", the fragment goes on here",
               "too short", "a b c d e f g h", "the film is"]
  got = sentiment.make_prompts(sentences, words=3, count=10, seed=0)
  assert sorted(got) == ["a b c", "the film is"]  # distinct; none from the fragment or
  # from sentences without a word after the prompt
  assert sentiment.make_prompts(sentences, 3, 10, seed=0, min_words=7) == ["a b c"]
  assert sentiment.make_prompts(sentences, 3, 1, seed=0)[0] in got
  assert sentiment.make_prompts(sentences, 3, 10, seed=5) == sentiment.make_prompts(
      sentences, 3, 10, seed=5)


def _fake_run(sweep_dir, run, kl, reward):
  point = os.path.join(sweep_dir, run.name, "frontier")
  os.makedirs(point)
  with open(os.path.join(point, "final.json"), "w") as f:
    json.dump({"kl": kl, "kl_se": 0.1, "reward": reward, "reward_se": 0.01,
               "response_length": 10.0}, f)


def test_the_frontier_summarises_each_arm_over_its_seeds(tmp_path):
  sweep = sweep_spec.Sweep(base="experiments/configs/ppo_tiny.py",
                           axes={"rl.kl_coef": [0.01, 0.1]})
  sweep_dir = str(tmp_path / "ppo")
  sweep_spec.save_manifest(sweep_dir, sweep, seeds=2)
  values = {("kl_coef=0.01", 0): (4.0, 0.8), ("kl_coef=0.01", 1): (6.0, 0.9),
            ("kl_coef=0.1", 0): (1.0, 0.6)}  # seed 1 of the second arm did not finish
  for run in sweep_spec.expand(sweep, 2):
    if (run.arm, run.seed) in values:
      _fake_run(sweep_dir, run, *values[(run.arm, run.seed)])
  with open(tmp_path / "best_of_n.jsonl", "w") as f:
    f.write(json.dumps({"n": 1, "kl": 0.0, "reward": 0.5}) + "\n")
    f.write(json.dumps({"n": 4, "kl": 0.636, "reward": 0.7}) + "\n")
  out = str(tmp_path / "out")
  paths = sentiment_plot.write(str(tmp_path), ["ppo", "dpo"], out)  # no dpo sweep: skipped
  assert [os.path.basename(p) for p in paths] == ["frontier.csv", "frontier.md",
                                                  "frontier.png"]
  summary = sentiment_plot.arm_summary(sentiment_plot.run_points(str(tmp_path), ["ppo"]))
  first, second = summary
  assert (first["arm"], first["seeds"], second["seeds"]) == ("kl_coef=0.01", 2, 1)
  assert first["kl"] == 5.0 and first["reward"] == pytest.approx(0.85)
  assert first["reward_se"] == pytest.approx(np.std([0.8, 0.9], ddof=1) / np.sqrt(2))
  assert second["kl_se"] == 0.0
  table = open(os.path.join(out, "frontier.md")).read()
  assert "| best-of-N, gold chooses (oracle) | n=4 | 1 | 0.64 (analytic) | 0.700 |" in table
  assert "| ppo | kl_coef=0.01 | 2 | 5.00 ± 1.00 | 0.850 ± 0.050 |" in table
  assert len(open(os.path.join(out, "frontier.csv")).read().splitlines()) == 4


def test_the_dry_run_lists_every_stage_command_and_writes_no_run(tmp_path):
  """--dry_run: the SFT, gold, pair, method, reward-model and over-optimisation commands,
  each method's frontier point after its run; nothing trained."""
  import subprocess
  import sys

  workdir, sst2 = tmp_path / "sentiment", tmp_path / "sst2"
  sst2.mkdir()
  for name in ("train.tsv", "dev.tsv"):  # a dry run reads neither; they only must exist
    (sst2 / name).write_text("sentence\tlabel\n")
  out = subprocess.run(
      [sys.executable, "-m", "experiments.sentiment", f"--workdir={workdir}", "--seeds=1",
       f"--sst2={sst2}", "--dry_run"], cwd=sweep_spec.REPO_ROOT, capture_output=True,
      text=True, check=True)
  lines = out.stdout.splitlines()
  trains = [l for l in lines if " -m train.main " in l]
  configs = [l.split("--config=")[1].split()[0].rsplit("/", 1)[1] for l in trains]
  assert configs == ["sst2_gpt.py", "sst2_gpt_classifier.py"] + ["ppo_tiny.py"] * 3 + [
      "grpo_tiny.py"] * 3 + ["dpo_tiny.py"] * 3 + ["reward_model_tiny.py", "ppo_tiny.py"] * 2
  assert "--workdir=" + str(workdir / "rm_small") in " ".join(trains)  # the second proxy
  assert sum(" -m eval.preference_pairs " in l for l in lines) == 2
  points = [l for l in lines if " -m eval.reward_kl " in l]
  assert len(points) == 9 + 2 * sentiment.OVEROPT_STEPS // sentiment.OVEROPT_EVERY
  assert all("--proxy=" in l for l in points[9:]) and "--step=25 " in points[9] + " "
  assert f"--config.data.files={sst2}" in trains[0]
  assert not any(p.name.startswith(("ppo", "grpo", "dpo")) for p in workdir.iterdir())
  missing = subprocess.run(
      [sys.executable, "-m", "experiments.sentiment", f"--workdir={workdir}",
       f"--sst2={tmp_path / 'none'}", "--dry_run"], cwd=sweep_spec.REPO_ROOT,
      capture_output=True, text=True)
  assert missing.returncode != 0 and "has no train.tsv or dev.tsv" in missing.stderr
