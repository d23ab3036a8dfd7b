"""Stateful LSTM (data.contiguous): batchify-style streams, carried state, exact numbers."""
import json
import os

import numpy as np
import optax
import orbax.checkpoint as ocp

from data import contiguous
from eval import evaluate as evaluate_lib
from tests import tiny
from train import experiment as experiment_lib
from train import loop
from train import partitioning
from train import state as state_lib
from train import step as step_lib


def _config(tmp_path, batch_size=8, seq_len=8, **train):
  corpus = tiny.write_corpus(str(tmp_path))
  c = tiny.tiny_config(corpus, str(tmp_path / "tfds"), **train)
  c.model.family = "lstm"
  c.data.contiguous = True
  c.data.batch_size, c.data.seq_len = batch_size, seq_len
  c.sample.num_samples = 0
  return c


def test_rows_continue_across_batches_and_epochs_reset(tmp_path):
  c = _config(tmp_path)
  exp = experiment_lib.build(c, str(tmp_path / "run"))
  tokens = contiguous.split_stream(c.data, exp.tokenizer, "train")
  per_row = (len(tokens) - 1) // 8
  per_epoch = per_row // 8
  it = iter(contiguous.make_dataset(c.data, exp.tokenizer, "train"))
  batches = [next(it) for _ in range(per_epoch + 2)]
  rows = np.concatenate([b["inputs"] for b in batches[:per_epoch]], axis=1)
  targets = np.concatenate([b["targets"] for b in batches[:per_epoch]], axis=1)
  for r in range(8):  # row r is one stretch of the stream: batch i+1 continues batch i
    np.testing.assert_array_equal(rows[r], tokens[r * per_row:r * per_row + per_epoch * 8])
    np.testing.assert_array_equal(targets[r], tokens[r * per_row + 1:
                                                     r * per_row + 1 + per_epoch * 8])
  assert [float(b["reset"][0, 0]) for b in batches] == [1.0] + [0.0] * (per_epoch - 1) + [
      1.0, 0.0]  # the next epoch starts over, from a reset state
  np.testing.assert_array_equal(batches[per_epoch]["inputs"], batches[0]["inputs"])
  it = iter(contiguous.make_dataset(c.data, exp.tokenizer, "train"))
  for _ in range(5):
    next(it)
  again = iter(contiguous.make_dataset(c.data, exp.tokenizer, "train"))
  again.set_state(it.get_state())  # the data position checkpoints
  np.testing.assert_array_equal(next(again)["inputs"], batches[5]["inputs"])
  # evaluation: one pass, every token but the first and the last < batch_size once
  ev = list(contiguous.make_dataset(c.data, exp.tokenizer, "validation", train=False))
  val = contiguous.split_stream(c.data, exp.tokenizer, "validation")
  assert sum(b["weights"].sum() for b in ev) == (len(val) - 1) // 8 * 8
  assert ev[0]["reset"].all() and not any(b["reset"].any() for b in ev[1:])


def test_stateful_eval_equals_one_long_window_per_row(tmp_path):
  """Carrying (c, h) across 8-token windows scores every row exactly as one forward pass
  over the row's whole stream does; windows from a zero state score differently."""
  c = _config(tmp_path)
  exp = experiment_lib.build(c, str(tmp_path / "run"))
  state = state_lib.create_train_state(exp.model, exp.tx, 8, c.seed, exp.mesh, exp.shardings,
                                       exp.rules, exp.carry_fn)
  assert state.carry.shape == (8, 2, 2, 32)  # [batch, layers, (c, h), hidden]
  _, eval_fn = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    totals, _ = evaluate_lib.accumulate(exp, state.params, eval_fn, 0, "validation")
  tokens = contiguous.split_stream(c.data, exp.tokenizer, "validation")
  inputs, targets = contiguous.stream_rows(tokens, 8)
  apply = lambda x: exp.model.apply({"params": state.params}, x)
  long = float(optax.softmax_cross_entropy_with_integer_labels(apply(inputs), targets).sum())
  assert totals["weight"] == inputs.size == (len(tokens) - 1) // 8 * 8
  np.testing.assert_allclose(totals["loss_sum"], long, rtol=1e-5)
  n = inputs.shape[1] // 8 * 8  # the same tokens in 8-token windows, each from zero state
  windows = lambda a: a[:, :n].reshape(-1, 8)
  short = float(optax.softmax_cross_entropy_with_integer_labels(
      apply(windows(inputs)), windows(targets)).sum())
  long_n = float(optax.softmax_cross_entropy_with_integer_labels(
      apply(inputs)[:, :n], targets[:, :n]).sum())
  assert abs(short - long_n) > 1e-3 * long_n, (short, long_n)


def _losses(workdir):
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]


def test_stateful_training_learns_and_resumes_exactly(tmp_path):
  # 16 streams x 32 steps: ~10 batches per epoch, so the run crosses epoch resets and
  # resumes after one (the carry and the data position come back from the checkpoint)
  c = _config(tmp_path, batch_size=16, seq_len=32, steps=30, checkpoint_every=100,
              eval_every=100)
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  report = loop.train_and_evaluate(c, straight)
  assert loop.train_and_evaluate(c, resumed, stop_after=13) is None
  with ocp.CheckpointManager(os.path.join(resumed, "checkpoints"),
                             item_names=("state",)) as mngr:
    saved = mngr.restore(13, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  assert np.abs(np.asarray(saved["state"]["carry"])).max() > 0  # the carry is checkpointed
  loop.train_and_evaluate(c, resumed)
  assert _losses(straight) == _losses(resumed)  # bit-exact, carry included
  losses = [l for _, l in _losses(straight)]
  assert losses[0] > 3.0 and np.mean(losses[-5:]) < losses[0] - 0.8, losses
  assert np.isfinite(report["loss"])
