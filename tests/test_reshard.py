"""A checkpoint saved on 8 devices (FSDP) restores on 1 and on 4 devices, onto the new
mesh's shardings, with equal params, and training continues with the same losses."""
import os
import shutil

import jax
import numpy as np
import pytest

from tests import tiny
from tests.test_train import read_losses
from train import checkpoint as checkpoint_lib
from train import experiment
from train import loop

MESHES = {"fsdp8": (1, 8, 1), "one": (1, 1, 1), "fsdp4": (1, 4, 1)}


def _config(corpus, data_dir, shape):
  c = tiny.tiny_config(corpus, data_dir, steps=8, eval_every=100, checkpoint_every=100,
                       eval_batches=1)
  c.sample.num_samples = 0
  c.mesh.data, c.mesh.fsdp, c.mesh.tensor = shape
  return c


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
  d = tmp_path_factory.mktemp("reshard")
  corpus, data_dir = tiny.write_corpus(str(d)), str(d / "tfds")
  saved = str(d / "saved")
  assert loop.train_and_evaluate(_config(corpus, data_dir, MESHES["fsdp8"]), saved,
                                 stop_after=4) is None
  out = {}
  for name, shape in MESHES.items():
    workdir = str(d / name)
    shutil.copytree(saved, workdir)
    config = _config(corpus, data_dir, shape)
    exp = experiment.build(config, workdir)
    ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
    state = ckpt.restore_state(exp.abstract_state, 4)
    ckpt.close()
    loop.train_and_evaluate(config, workdir)
    out[name] = (exp, state, read_losses(workdir))
  return out


def test_restored_params_are_equal_and_on_the_new_mesh(resumed):
  _, saved_state, _ = resumed["fsdp8"]
  want = jax.device_get(saved_state.params)
  for name in ("one", "fsdp4"):
    exp, state, _ = resumed[name]
    assert int(state.step) == 4
    jax.tree.map(np.testing.assert_array_equal, want, jax.device_get(state.params))
    for x in jax.tree.leaves(state.params) + jax.tree.leaves(state.opt_state):
      assert x.sharding.mesh.devices.size == exp.mesh.devices.size, name
    wi = state.params["layers_0"]["block"]["mlp"]["wi"]["kernel"]
    assert len(wi.sharding.device_set) == exp.mesh.devices.size


def test_training_continues_with_equal_losses_on_1_and_4_devices(resumed):
  want = resumed["fsdp8"][2]
  assert [s for s, _ in want] == list(range(1, 9))
  for name in ("one", "fsdp4"):
    got = resumed[name][2]
    assert [s for s, _ in got] == [s for s, _ in want]
    assert got[:4] == want[:4]  # the saved run's own log, kept on resume
    np.testing.assert_allclose([l for _, l in got[4:]], [l for _, l in want[4:]],
                               rtol=0, atol=1e-5)
