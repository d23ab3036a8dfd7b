"""Mixed precision (bf16 compute, float32 params/optimizer state), remat policies and
scanned layers through the real train step on the 8-device mesh."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests import scaling_util
from tests import tiny

STEPS = 6


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  d = tmp_path_factory.mktemp("precision")
  config = tiny.tiny_config(tiny.write_corpus(str(d)), str(d / "tfds"))
  config.mesh.data = -1  # all 8 simulated devices
  exp, state, losses = scaling_util.run_steps(config, str(d / "plain"), STEPS)
  init = scaling_util.run_steps(config, str(d / "init"), 0)[1]
  return config, d, losses, jax.device_get(init.params)


def _variant(setup, name, params=None, **model):
  config, d, _, _ = setup
  c = config.copy_and_resolve_references()
  c.model.update(model)
  return scaling_util.run_steps(c, str(d / name), STEPS, params=params)


def test_bf16_trains_with_float32_params_and_optimizer_state(setup):
  _, _, f32_losses, _ = setup
  exp, state, losses = _variant(setup, "bf16", dtype="bfloat16")
  assert exp.model.cfg.dtype == jnp.bfloat16
  assert losses[-1] < losses[0] - 0.2, losses
  for x in jax.tree.leaves(state.params) + jax.tree.leaves(state.opt_state):
    assert x.dtype in (jnp.float32, jnp.int32), x.dtype
  # bf16 keeps 8 mantissa bits (~0.4% relative); the logits and the loss are float32.
  np.testing.assert_allclose(losses, f32_losses, rtol=0, atol=2e-2)


def test_xla_cpu_scheduler_reorders_the_step_but_not_its_arithmetic(setup):
  config, d, want, _ = setup
  programs = {}
  for name in ("memory", "concurrency"):  # the suite's default is "memory"
    c = config.copy_and_resolve_references()
    c.train.xla_cpu_scheduler = name
    programs[name] = tiny.program_text(
        scaling_util.compiled_step(c, str(d / f"program_{name}")))
  assert programs["memory"] != programs["concurrency"]
  _, _, got = scaling_util.run_steps(c, str(d / "concurrency"), STEPS)
  np.testing.assert_array_equal(got, want)  # the same ops, in another order


@pytest.mark.parametrize("policy", ["full", "dots_saveable"])
def test_remat_gives_the_plain_losses(setup, policy):
  _, _, want, _ = setup
  _, _, got = _variant(setup, f"remat_{policy}", remat=policy)
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_scanned_layers_give_the_plain_losses(setup):
  _, _, want, params = setup
  # nn.scan draws its own init; start it from the plain params stacked on a layers axis.
  layers = [params.pop(f"layers_{i}") for i in range(2)]
  params["layers"] = jax.tree.map(lambda *xs: np.stack(xs), *layers)
  exp, state, got = _variant(setup, "scan", params=params, scan_layers=True)
  wi = state.params["layers"]["block"]["mlp"]["wi"]["kernel"]
  assert wi.shape == (2, 32, 64)
  assert got[0] == pytest.approx(want[0], abs=1e-6)
  # The scan's backward sums in another order; Adam (dividing by sqrt(v), tiny early on)
  # amplifies those float32 roundings to ~1.5e-5 by step 6, so allow 5e-5.
  np.testing.assert_allclose(got, want, rtol=0, atol=5e-5)


@pytest.mark.parametrize("scan_layers", [True, False])
def test_remat_shrinks_the_compiled_steps_temp_buffers(tmp_path, scan_layers):
  # 4 layers at 128 tokens, this suite's XLA flags (the entry points'): full remat keeps
  # each layer's input only; measured 9.70 vs 37.27 MB scanned, 13.23 vs 19.65 MB unrolled.
  corpus = tiny.write_corpus(str(tmp_path))
  temp = {}
  for remat in ("none", "full"):
    c = tiny.tiny_config(corpus, str(tmp_path / "tfds"))
    c.model.update(remat=remat, scan_layers=scan_layers, num_layers=4, max_len=128)
    c.data.seq_len = 128
    temp[remat] = scaling_util.step_temp_bytes(c, str(tmp_path / remat))
  assert temp["full"] < 0.85 * temp["none"], temp
