"""End-to-end training: losses fall, 1 device == 8 devices, exact resume, workdir layout."""
import json
import os
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests import tiny
from train import loop


def read_losses(workdir, split="train"):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(l) for l in f]
  return [(r["step"], r["loss"]) for r in rows if r["split"] == split]


def restore_params(workdir, step):
  with ocp.CheckpointManager(os.path.join(workdir, "checkpoints"),
                             item_names=("state",)) as mngr:
    return mngr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]["params"]


@pytest.fixture(scope="module")
def runs_1_and_8_devices(corpus, tmp_path_factory):
  path, data_dir = corpus
  out = {}
  for n in (1, 8):
    workdir = str(tmp_path_factory.mktemp(f"dev{n}"))
    c = tiny.tiny_config(path, data_dir)
    c.mesh.data = n
    c.sample.decode_speed_tokens = 8 if n == 8 else 0
    c.train.final_eval_batches = 1 if n == 1 else 0
    out[n] = (workdir, loop.train_and_evaluate(c, workdir))
  return out


def test_loss_falls_on_1_and_8_devices(runs_1_and_8_devices):
  for n, (workdir, report) in runs_1_and_8_devices.items():
    losses = [l for _, l in read_losses(workdir)]
    assert losses[0] > 3.0, (n, losses[0])  # ~ln(vocab) at init
    assert np.mean(losses[-5:]) < 1.5, (n, losses[-5:])
    assert report["loss"] < 1.5, (n, report)


def test_1_and_8_devices_give_equal_losses(runs_1_and_8_devices):
  one = read_losses(runs_1_and_8_devices[1][0])
  eight = read_losses(runs_1_and_8_devices[8][0])
  assert [s for s, _ in one] == [s for s, _ in eight]
  np.testing.assert_allclose([l for _, l in one[:10]], [l for _, l in eight[:10]],
                             rtol=0, atol=1e-5)


def test_final_eval_batches_shortens_the_final_evaluation(runs_1_and_8_devices):
  one_batch = runs_1_and_8_devices[1][1]  # train.final_eval_batches=1
  whole = runs_1_and_8_devices[8][1]  # 0: the whole split
  assert one_batch["tokens"] == 8 * 32 < whole["tokens"]
  assert "bits_per_byte" in whole and "bits_per_byte" not in one_batch


def test_workdir_has_the_documented_layout(runs_1_and_8_devices):
  workdir, report = runs_1_and_8_devices[8]
  for name in ("config.json", "metrics.jsonl", "final.json", "loss.png", "samples.txt",
               "checkpoints", "tokenizer", "tb", "environment.json"):
    assert os.path.exists(os.path.join(workdir, name)), name
  [start] = json.load(open(os.path.join(workdir, "environment.json")))
  assert start["step"] == 0 and start["devices"] == "8 x cpu"
  assert start["libraries"]["jax"] == jax.__version__
  final = json.load(open(os.path.join(workdir, "final.json")))
  assert final["loss"] == pytest.approx(report["loss"])
  assert final["perplexity"] == pytest.approx(np.exp(report["loss"]), rel=1e-5)
  m = json.load(open(os.path.join(workdir, "config.json")))["model"]
  assert m["position"] == "learned" and m["tie_embeddings"]  # token + position tables
  embedding = (m["vocab_size"] + m["max_len"]) * m["d_model"]
  assert final["params"] - final["non_embedding_params"] == embedding
  assert final["decode_tokens_per_sec"] > 0  # sample.decode_speed_tokens > 0
  splits = {json.loads(l)["split"] for l in open(os.path.join(workdir, "metrics.jsonl"))}
  assert splits == {"train", "eval", "final_eval"}
  assert open(os.path.join(workdir, "samples.txt")).read().startswith("=== sample 0")


def test_resume_is_exact(corpus, tmp_path):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir, steps=24, checkpoint_every=100, eval_every=100)
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  loop.train_and_evaluate(c, straight)
  assert loop.train_and_evaluate(c, resumed, stop_after=11) is None
  assert [s for s, _ in read_losses(resumed)] == list(range(1, 12))
  loop.train_and_evaluate(c, resumed)
  assert read_losses(straight) == read_losses(resumed)  # every logged loss, bit-exact
  a, b = restore_params(straight, 24), restore_params(resumed, 24)
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_nan_loss_stops_with_clear_error_and_keeps_last_checkpoint(corpus, tmp_path):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir, steps=6, learning_rate=1e30, end_learning_rate=1e30,
                       warmup_steps=0, grad_clip=0.0, checkpoint_every=1, schedule="constant")
  workdir = str(tmp_path / "nan")
  with pytest.raises(FloatingPointError, match="last good checkpoint"):
    loop.train_and_evaluate(c, workdir)
  steps = sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints"))
                 if s.isdigit())
  assert steps and steps[-1] < 6


def test_a_checkpoint_from_before_the_carry_field_still_restores(tmp_path):
  """TrainState gained `carry` (the stateful LSTM); checkpoints written before it, which
  hold only step/params/opt_state/rng, restore into today's state with carry None."""
  import flax
  import jax.numpy as jnp
  from train import checkpoint
  from train.state import TrainState

  @flax.struct.dataclass
  class StateBefore:  # TrainState as it was
    step: jax.Array
    params: dict
    opt_state: tuple
    rng: jax.Array

  old = StateBefore(step=jnp.int32(7), params={"w": jnp.arange(4.0)},
                    opt_state=(jnp.ones(4),), rng=jnp.zeros(2, jnp.uint32))
  manager = ocp.CheckpointManager(str(tmp_path), item_names=("state",))
  manager.save(7, args=ocp.args.Composite(state=ocp.args.StandardSave(old)))
  manager.wait_until_finished()
  manager.close()
  abstract = TrainState(step=jnp.int32(0), params={"w": jnp.zeros(4)},
                        opt_state=(jnp.zeros(4),), rng=jnp.zeros(2, jnp.uint32))
  ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
  try:
    restored = ckpt.restore_state(abstract, 7)
  finally:
    ckpt.close()
  assert restored.carry is None and int(restored.step) == 7
  np.testing.assert_array_equal(restored.params["w"], np.arange(4.0))


def test_throughput_leaves_out_evaluation_and_checkpoint_pauses():
  """tokens/s counts the training steps' time only: a row after a pause (an evaluation, a
  save) reads the steps' speed, not the pause's."""
  throughput = loop.Throughput(tokens_per_step=100, step=0)
  with throughput.paused(state=None):
    time.sleep(0.3)
  assert throughput.tokens_per_sec(10) > 1000 / 0.05  # the 0.3 s left out (3,333 if not)
  time.sleep(0.1)  # the steps' own time counts
  assert 1000 / 0.5 < throughput.tokens_per_sec(20) <= 1000 / 0.1  # 10 steps since
