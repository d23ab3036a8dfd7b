"""Evaluation and generation from a trained workdir: exact metrics, seeded text, clear errors."""
import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import evaluate
from eval import restore
from eval import sampling
from tests import tiny
from train import loop
from train import partitioning
from train import step

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(*argv: str) -> str:
  """stdout of `python -m argv...` from the repo root. A subprocess, not flagsaver: other
  test modules import flag-defining entry files too, and absl refuses a second --workdir."""
  out = subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """One tiny run, trained long enough (200 steps) to recite the corpus under greedy."""
  d = tmp_path_factory.mktemp("eval_run")
  path = tiny.write_corpus(str(d))
  c = tiny.tiny_config(path, str(d / "tfds"), steps=200, log_every=10, eval_every=100,
                       checkpoint_every=100)
  workdir = str(d / "run")
  loop.train_and_evaluate(c, workdir)
  return workdir


@pytest.fixture(scope="module")
def restored(workdir):
  return restore.restore_params(workdir)


def test_eval_equals_the_runs_final_eval(workdir):
  report = evaluate.evaluate_workdir(workdir)
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  (final_row,) = [r for r in rows if r["split"] == "final_eval"]
  final = json.load(open(os.path.join(workdir, "final.json")))
  assert report["step"] == 200 and report["split"] == "validation"
  for key in ("loss", "perplexity", "accuracy", "tokens"):
    assert report[key] == pytest.approx(final_row[key], abs=1e-6), key
    assert report[key] == pytest.approx(final[key], abs=1e-6), key
  assert json.load(open(os.path.join(workdir, "eval_validation.json"))) == report


def test_eval_of_an_earlier_step_and_fewer_batches(workdir):
  report = evaluate.evaluate_workdir(workdir, step=100, max_batches=1)
  assert report["step"] == 100
  assert 0 < report["tokens"] <= 8 * 32  # one global batch of the tiny config
  final = json.load(open(os.path.join(workdir, "final.json")))
  assert report["loss"] != pytest.approx(final["loss"], abs=1e-6)


def test_final_eval_reuses_the_mid_run_eval_step(restored):
  """The training loop evaluates inside its mesh context mid-run and after it at the end:
  one compiled eval step serves both (a second context compiled it again)."""
  exp = restored.exp
  _, eval_fn = step.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    mid_run = evaluate.evaluate(exp, restored.params, eval_fn, 2, frozen=restored.frozen)
  final = evaluate.evaluate(exp, restored.params, eval_fn, 2, frozen=restored.frozen)
  assert final == mid_run
  assert eval_fn._cache_size() == 1


def test_eval_main_cli_on_the_train_split(workdir):
  out = run_module("eval.main", f"--workdir={workdir}", "--split=train", "--max_batches=2")
  assert "step 200 train: loss" in out
  report = json.load(open(os.path.join(workdir, "eval_train.json")))
  assert report["split"] == "train" and report["max_batches"] == 2
  assert report["loss"] < 1.0


def test_same_seed_same_text_other_seed_other_text(restored):
  def draw(seed):
    return sampling.generate_text(restored.exp, restored.params, "to be ", max_new_tokens=24,
                                  num_samples=2, seed=seed, temperature=1.5)
  a, b, c = draw(0), draw(0), draw(1)
  assert a == b
  assert a != c
  assert a[0] != a[1]  # rows of one call draw differently too


def test_greedy_recites_the_corpus(restored):
  def greedy(prompt):
    return sampling.generate_text(restored.exp, restored.params, prompt, max_new_tokens=8,
                                  temperature=0.0)[0]
  assert greedy("the quick brown fox jumps over the ").startswith("lazy")
  assert greedy("to be or not to be, that is ").startswith("the q")


def test_generate_cli_prints_prompt_and_the_seeded_continuations(workdir):
  prompt = "all that "
  out = run_module("eval.generate", f"--workdir={workdir}", f"--prompt={prompt}",
                   "--strategy=top_k", "--top_k=5", "--temperature=1.5", "--seed=3",
                   "--num_samples=2", "--max_new_tokens=16")
  texts = sampling.generate_from_workdir(
      workdir, prompt, max_new_tokens=16, strategy="top_k", top_k=5, temperature=1.5,
      num_samples=2, seed=3)  # same seed in another process: same text
  for i, text in enumerate(texts):
    assert f"=== sample {i} (top_k, seed 3) ===\n{prompt}{text}\n" in out, (out, texts)


def test_filter_logits_top_k_keeps_exactly_k():
  logits = jnp.array([[0.1, 2.0, -1.0, 3.0, 0.5, 1.0]])
  kept = sampling.filter_logits(logits, top_k=3) > jnp.finfo(jnp.float32).min
  np.testing.assert_array_equal(kept[0], [False, True, False, True, False, True])


@pytest.mark.parametrize("top_p, expected", [
    (0.4, [True, False, False, False]),   # 0.5 alone already covers 0.4
    (0.75, [True, True, False, False]),   # 0.5 + 0.3
    (0.85, [True, True, True, False]),    # 0.5 + 0.3 + 0.15
    (1.0, [True, True, True, True]),
])
def test_filter_logits_top_p_keeps_the_smallest_nucleus(top_p, expected):
  probs = np.array([0.5, 0.3, 0.15, 0.05])
  order = np.array([2, 0, 3, 1])  # shuffled, so the filter cannot rely on input order
  logits = jnp.log(jnp.asarray(probs[order]))[None]
  kept = sampling.filter_logits(logits, top_p=top_p) > jnp.finfo(jnp.float32).min
  np.testing.assert_array_equal(kept[0], np.array(expected)[order])


def test_temperature_scales_logits_and_zero_is_argmax():
  logits = jnp.array([[0.1, 2.0, -1.0, 3.0], [4.0, 2.0, -1.0, 3.0]])
  np.testing.assert_allclose(sampling.filter_logits(logits, temperature=0.5), logits / 0.5)
  for seed in range(3):
    tok = sampling.sample_token(jax.random.PRNGKey(seed), logits, 0.0, 0, 1.0)
    np.testing.assert_array_equal(tok, [3, 0])
    tok = sampling.sample_token(jax.random.PRNGKey(seed), logits, 1.0, 1, 1.0)  # top_k=1
    np.testing.assert_array_equal(tok, [3, 0])


def test_strategy_settings():
  assert sampling.strategy_settings("greedy", 0.8, 40, 0.9) == (0.0, 0, 1.0)
  assert sampling.strategy_settings("sample", 0.8, 40, 0.9) == (0.8, 0, 1.0)
  assert sampling.strategy_settings("top_k", 0.8, 40, 0.9) == (0.8, 40, 1.0)
  assert sampling.strategy_settings("top_p", 0.8, 40, 0.9) == (0.8, 0, 0.9)
  with pytest.raises(ValueError, match="choose one of greedy, sample, top_k, top_p"):
    sampling.strategy_settings("beam")
  with pytest.raises(ValueError, match="use strategy 'greedy'"):
    sampling.strategy_settings("sample", temperature=0.0)


def test_missing_workdir_says_train_first(tmp_path):
  with pytest.raises(ValueError, match="does not exist; train into it first with "
                                       "python -m train.main"):
    restore.restore_params(str(tmp_path / "nowhere"))
  with pytest.raises(ValueError, match="no config.json.*train into it first"):
    restore.restore_params(str(tmp_path))


def test_workdir_without_checkpoints_says_train_first(workdir, tmp_path):
  empty = tmp_path / "untrained"
  empty.mkdir()
  shutil.copy(os.path.join(workdir, "config.json"), empty)
  shutil.copytree(os.path.join(workdir, "tokenizer"), empty / "tokenizer")
  with pytest.raises(ValueError, match="no checkpoints yet.*train into it first"):
    restore.restore_params(str(empty))


def test_missing_step_lists_the_steps(workdir):
  with pytest.raises(ValueError, match=r"no checkpoint step 7 .* it has steps \[100, 200\]"):
    restore.restore_params(workdir, step=7)


def test_unknown_split_lists_the_splits(workdir):
  with pytest.raises(ValueError, match=r"no split 'test'; it has \['train', 'validation'\]"):
    evaluate.evaluate_workdir(workdir, split="test")


def test_corrupt_checkpoint_names_the_way_out(workdir, tmp_path):
  copy = str(tmp_path / "copy")
  shutil.copytree(workdir, copy)
  state_dir = os.path.join(copy, "checkpoints", "200", "state")
  for root, _, files in os.walk(state_dir):
    for name in files:
      with open(os.path.join(root, name), "wb") as f:
        f.write(b"garbage")
  with pytest.raises(ValueError, match=r"step 200 .* cannot be restored.*Other steps here: \[100\]"):
    restore.restore_params(copy)
