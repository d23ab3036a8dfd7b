"""init_from: a fresh run starts from a pretrained workdir's params and tokenizer."""
import filecmp
import os

import jax
import numpy as np
import pytest

from eval import restore as restore_lib
from tests import tiny
from train import experiment as experiment_lib
from train import init_from as init_from_lib
from train import loop
from train import state as state_lib


@pytest.fixture(scope="module")
def source(tmp_path_factory):
  """A tiny GPT trained 20 steps (checkpoints at 10 and 20)."""
  root = tmp_path_factory.mktemp("init_from")
  corpus = tiny.write_corpus(str(root))
  config = tiny.tiny_config(corpus, str(root / "tfds"), steps=20, checkpoint_every=10,
                            eval_every=100)
  config.sample.num_samples = 0
  workdir = str(root / "source")
  loop.train_and_evaluate(config, workdir)
  return config, workdir, root


def _fresh_state(config, workdir):
  config = init_from_lib.prepare_workdir(config, workdir)
  exp = experiment_lib.build(config, workdir)
  state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                       exp.mesh, exp.shardings)
  return exp, state


def _target(source, name, **model):
  config, src_workdir, root = source
  config = config.copy_and_resolve_references()
  config.init_from = src_workdir
  config.data.tokenizer = "byte"  # replaced by the source's (char) tokenizer
  config.seed = 7
  for key, value in model.items():
    config.model[key] = value
  return config, str(root / name)


def test_params_and_tokenizer_come_from_the_source(source):
  config, workdir = _target(source, "same")
  exp, state = _fresh_state(config, workdir)
  assert exp.config.data.tokenizer == "char"
  assert filecmp.cmp(os.path.join(source[1], "tokenizer", "tokenizer.json"),
                     os.path.join(workdir, "tokenizer", "tokenizer.json"), shallow=False)
  plan = init_from_lib.summary(exp)
  assert plan.fresh == [] and plan.dropped == [] and plan.errors == []
  loaded = init_from_lib.load_into(exp, state)
  want = restore_lib.restore_params(source[1]).params
  for a, b in zip(jax.tree.leaves(loaded.params), jax.tree.leaves(want)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The seed-7 init differs from the source, so equality above is the copy, not chance.
  assert not np.allclose(np.asarray(state.params["embed"]["token"]["embedding"]),
                         np.asarray(want["embed"]["token"]["embedding"]))
  assert int(loaded.step) == 0
  # DIR@STEP reads that step.
  config.init_from = f"{source[1]}@10"
  at_10 = init_from_lib.load_into(exp.__class__(**{**exp.__dict__, "config": config}), state)
  want_10 = restore_lib.restore_params(source[1], 10).params
  np.testing.assert_array_equal(np.asarray(at_10.params["final_norm"]["layernorm"]["scale"]),
                                np.asarray(want_10["final_norm"]["layernorm"]["scale"]))


def test_mismatch_names_paths_shapes_and_config_keys(source):
  config, workdir = _target(source, "wide", d_model=48, num_heads=4)
  exp, state = _fresh_state(config, workdir)
  with pytest.raises(ValueError) as e:
    init_from_lib.load_into(exp, state)
  msg = str(e.value)
  assert "embed/token/embedding: source (33, 32) float32 vs target (33, 48)" in msg
  assert "model.d_model: source 32 vs target 48" in msg
  with pytest.raises(ValueError, match="no checkpoint step 5"):
    init_from_lib.resolve(f"{source[1]}@5")
  with pytest.raises(ValueError, match="does not exist"):
    init_from_lib.resolve(str(source[2] / "nowhere"))


def test_training_starts_where_the_source_ended(source):
  config, workdir = _target(source, "continued")
  config.train.steps = 3
  config.train.warmup_steps = 1
  loop.train_and_evaluate(config, workdir)
  rows = [r for r in _read(os.path.join(source[1], "metrics.jsonl")) if r["split"] == "train"]
  first = [r for r in _read(os.path.join(workdir, "metrics.jsonl")) if r["split"] == "train"][0]
  scratch = np.log(33)  # an untrained model's loss over the 33-token vocabulary
  assert first["loss"] < min(rows[-1]["loss"] + 0.2, scratch - 0.5), (first, rows[-1])
  # A resumed run restores its own checkpoint: init_from is not read again.
  config.init_from = str(source[2] / "gone")
  config.train.steps = 4
  assert loop.train_and_evaluate(config, workdir)["step"] == 4


def test_classifier_gets_the_backbone_and_a_fresh_head(source):
  config, workdir = _target(source, "classifier")
  data = source[2] / "labelled"
  data.mkdir()
  (data / "train.tsv").write_text("sentence\tlabel\nthe quick brown fox\t0\n"
                                  "a stitch in time\t1\n")
  config.objective = "classification"
  config.task.pooling = "last"
  config.data.update(dataset="glue_tsv", files=str(data), text_key="sentence",
                     eval_split="train")
  exp, state = _fresh_state(config, workdir)
  plan = init_from_lib.summary(exp)
  assert sorted("/".join(p) for p in plan.fresh) == [
      "head/out/kernel", "head/pooler/kernel"]
  assert plan.dropped == [] and plan.errors == []
  assert all(p[0] == "backbone" for p in plan.copied)
  loaded = init_from_lib.load_into(exp, state)
  want = restore_lib.restore_params(source[1]).params
  got = loaded.params["backbone"]
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  for a, b in zip(jax.tree.leaves(loaded.params["head"]), jax.tree.leaves(state.params["head"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the fresh init, untouched


def _read(path):
  import json
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_a_grown_vocabulary_keeps_the_source_rows(source):
  """Appended special tokens (chat role markers) add rows; the old ones come across."""
  config, workdir = _target(source, "grown", vocab_size=40)  # the source has 33
  exp, state = _fresh_state(config, workdir)
  plan = init_from_lib.summary(exp)
  assert [("embed", "token", "embedding")] == list(plan.grown) and plan.errors == []
  loaded = init_from_lib.load_into(exp, state)
  got = np.asarray(loaded.params["embed"]["token"]["embedding"])
  want = np.asarray(restore_lib.restore_params(source[1]).params["embed"]["token"]["embedding"])
  np.testing.assert_array_equal(got[:33], want)
  fresh = np.asarray(state.params["embed"]["token"]["embedding"])
  np.testing.assert_array_equal(got[33:], fresh[33:])
