"""train.grad_accum_steps through the loop: k microbatches of B equal one step on k*B."""
import jax
import numpy as np

from tests import tiny
from tests.test_train import read_losses, restore_params
from train import loop


def test_two_microbatches_equal_one_double_batch(tmp_path):
  corpus, data_dir = tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds")
  runs = {}
  for name, batch, accum in (("accum", 8, 2), ("big", 16, 1)):
    c = tiny.tiny_config(corpus, data_dir, steps=2 * accum,  # two optimizer updates
                         grad_accum_steps=accum, warmup_steps=1, log_every=accum,
                         checkpoint_every=100, eval_every=100, eval_batches=1)
    c.data.batch_size = batch
    c.sample.num_samples = 0
    workdir = str(tmp_path / name)
    loop.train_and_evaluate(c, workdir)
    runs[name] = workdir
  # The pipeline's window stream does not depend on the batch size, so microbatches
  # (1, 2) and (3, 4) are exactly the two halves of the big batches 1 and 2.
  accum, big = read_losses(runs["accum"]), read_losses(runs["big"])
  assert [s for s, _ in accum] == [2, 4] and [s for s, _ in big] == [1, 2]
  np.testing.assert_allclose([l for _, l in accum], [l for _, l in big], rtol=0, atol=1e-5)
  a, b = restore_params(runs["accum"], 4), restore_params(runs["big"], 2)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
