"""prefix_lm (train/tasks/prefix_lm.py): its mask, its data and a run through train.main."""
import json
import os
import subprocess
import sys

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import data
import model
from experiments.configs import base
from tests import tiny
from train import experiment
from train import tasks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def tiny_decoder():
  c = base.get_config().model
  c.vocab_size, c.d_model, c.num_layers, c.num_heads, c.mlp_dim, c.max_len = 37, 32, 2, 4, 64, 16
  m = model.build(c)
  tokens = jnp.asarray(np.random.default_rng(0).integers(3, 37, (1, 12)), jnp.int32)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), tokens)["params"])
  return m, params, tokens


def _changed_positions(m, params, tokens, at, **kwargs):
  """Positions whose logits move when the token at `at` changes."""
  other = tokens.at[0, at].set((tokens[0, at] + 1) % 37)
  a, b = (np.asarray(m.apply({"params": params}, t, **kwargs)) for t in (tokens, other))
  return set(np.nonzero(np.abs(a - b).max(-1)[0] > 1e-6)[0].tolist())


def test_the_prefix_is_read_both_ways_and_the_rest_causally(tiny_decoder):
  m, params, tokens = tiny_decoder
  prefix = jnp.asarray(np.arange(12)[None] < 5)
  # A prefix token reaches every position (those before it too); a continuation token
  # only itself and later ones; a causal LM's token never reaches back.
  assert _changed_positions(m, params, tokens, 3, prefix_mask=prefix) == set(range(12))
  assert _changed_positions(m, params, tokens, 7, prefix_mask=prefix) == set(range(7, 12))
  assert _changed_positions(m, params, tokens, 3) == set(range(3, 12))
  # Segments still bound the prefix: a second document's prefix stays in that document.
  segments = jnp.asarray([[1] * 6 + [2] * 6])
  positions = jnp.asarray([list(range(6)) * 2])
  two_prefixes = positions < 3
  changed = _changed_positions(m, params, tokens, 7, prefix_mask=two_prefixes,
                               segment_ids=segments, positions=positions)
  assert changed == set(range(6, 12))


def test_cut_points_vary_and_the_loss_skips_the_prefix(tmp_path):
  c = tiny.tiny_config(tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds"))
  c.objective, c.data.packing_mask = "prefix_lm", True
  tok = data.build_tokenizer(c.data, None, lambda: iter([tiny.CORPUS]))
  task = tasks.for_config(c)
  batches = []
  for _ in range(2):  # the same seed gives the same cuts
    it = iter(task.make_dataset(c.data, tok, "train", seed=0))
    batches.append([next(it) for _ in range(3)])
  for a, b in zip(*batches):
    np.testing.assert_array_equal(a["prefix_mask"], b["prefix_mask"])
  cuts = np.concatenate([b["prefix_mask"].sum(1) for b in batches[0]])
  assert cuts.min() >= 1 and cuts.max() <= c.data.seq_len - 1 and len(set(cuts)) > 5
  for b in batches[0]:
    task.check_batch(b)
    cut_Bx1 = b["prefix_mask"].sum(1, keepdims=True)  # one document piece per row here
    expected = (np.arange(c.data.seq_len)[None] >= cut_Bx1 - 1).astype(np.float32)
    np.testing.assert_array_equal(b["weights"], expected)


def test_prefix_lm_without_document_masks_is_refused_before_data(tmp_path):
  c = tiny.tiny_config(str(tmp_path / "none.txt"), str(tmp_path / "tfds"))
  c.objective = "prefix_lm"
  with pytest.raises(ValueError, match="prefix_lm needs data.packing_mask=True"):
    experiment.validate(c)


def test_prefix_lm_trains_through_train_main_and_samples_with_the_cache(tmp_path):
  tiny.write_corpus(str(tmp_path))
  workdir = str(tmp_path / "run")
  cmd = [sys.executable, "-m", "train.main",
         f"--config={ROOT}/tests/fixtures/tiny_gpt_config.py:{tmp_path}", f"--workdir={workdir}",
         "--config.objective=prefix_lm", "--config.data.packing_mask=True",
         "--config.train.steps=120", "--config.sample.max_new_tokens=24"]
  env = dict(os.environ, XLA_FLAGS="")  # one device: the test is about the entry point
  subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, timeout=600, env=env)
  rows = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
  first = next(r for r in rows if r["split"] == "train")
  final = json.load(open(os.path.join(workdir, "final.json")))
  # ln(vocab) ~ 3.3 at the start; the 4-sentence corpus is learned well within 120 steps.
  assert final["loss"] < 0.5 * first["loss"], (first["loss"], final["loss"])
  samples = open(os.path.join(workdir, "samples.txt")).read()
  assert len(samples.strip()) > 0
