"""Data / FSDP / tensor / FSDP x tensor layouts give the 1-device losses, sharded as the
rules say (params, optimizer state and activations); bad meshes fail before compile."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from tests import scaling_util
from tests import tiny
from train import experiment
from train import partitioning

STEPS = 5
LAYOUTS = {"fsdp4_tensor2": (1, 4, 2), "fsdp8": (1, 8, 1), "data4_tensor2": (4, 1, 2)}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
  d = tmp_path_factory.mktemp("partitioning")
  return tiny.tiny_config(tiny.write_corpus(str(d)), str(d / "tfds")), d


@pytest.fixture(scope="module")
def runs(base):
  config, d = base
  out = {"one_device": scaling_util.run_steps(
      scaling_util.mesh_config(config, 1), str(d / "one"), STEPS)}
  for name, shape in LAYOUTS.items():
    out[name] = scaling_util.run_steps(
        scaling_util.mesh_config(config, *shape), str(d / name), STEPS)
  return out


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_layout_losses_equal_one_device(runs, layout):
  _, _, want = runs["one_device"]
  exp, _, got = runs[layout]
  assert dict(exp.mesh.shape) == dict(zip(partitioning.MESH_AXES, LAYOUTS[layout]))
  assert want[-1] < want[0]
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def _spec(tree, *keys):
  for k in keys:
    tree = tree[k]
  return tree.sharding.spec


def test_params_and_optimizer_state_are_sharded_as_the_rules_say(runs):
  _, state, _ = runs["fsdp4_tensor2"]
  p = state.params
  block = ("layers_0", "block")
  assert _spec(p, *block, "mlp", "wi", "kernel") == P("fsdp", "tensor")  # column split
  assert _spec(p, *block, "mlp", "wo", "kernel") == P("tensor", "fsdp")  # row split
  assert _spec(p, *block, "self_attention", "query", "kernel") == P("fsdp", "tensor")
  assert _spec(p, *block, "self_attention", "out", "kernel") == P("tensor", "fsdp")
  assert _spec(p, "embed", "token", "embedding") == P("tensor", "fsdp")
  assert _spec(p, "final_norm", "layernorm", "scale") == P(None)
  wi = p["layers_0"]["block"]["mlp"]["wi"]["kernel"]
  assert wi.shape == (32, 64)
  assert {s.data.shape for s in wi.addressable_shards} == {(8, 32)}  # really split 4 x 2
  # Adam's moments follow their params (sharded optimizer state, not replicated).
  moments = [x for x in jax.tree.leaves(state.opt_state) if x.shape == (32, 64)]
  assert moments and all(x.sharding.spec == P("fsdp", "tensor") for x in moments)


def _constraints(jaxpr):
  """Every sharding_constraint in a jaxpr, sub-jaxprs (scan, remat, pjit) included."""
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "sharding_constraint":
      yield eqn.params["sharding"]
    for v in eqn.params.values():
      for sub in v if isinstance(v, (list, tuple)) else [v]:
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          yield from _constraints(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          yield from _constraints(sub)


def test_logical_rules_constrain_activations(runs):
  exp, state, _ = runs["data4_tensor2"]
  batch = {k: jnp.zeros((8, 32), jnp.int32) for k in ("inputs", "targets")}
  batch["weights"] = jnp.ones((8, 32), jnp.float32)
  with partitioning.mesh_context(exp.mesh):
    jaxpr = jax.make_jaxpr(lambda p: exp.loss_fn(p, batch, jax.random.PRNGKey(0), True))(
        state.params)
  specs = [s.spec for s in _constraints(jaxpr.jaxpr)]
  # [batch, length, embed]: batch over data*fsdp; embed's 'fsdp' is taken by batch.
  assert specs and P(("data", "fsdp"), None, None) in specs, specs


def test_mesh_product_not_the_device_count_fails_before_compile(base, tmp_path):
  config, _ = base
  c = scaling_util.mesh_config(config, 4, 4, 1)
  with pytest.raises(ValueError, match=r"4\*4\*1 = 16 but there are 8 devices"):
    experiment.validate(c)


def test_indivisible_param_names_param_and_axis(base, tmp_path):
  config, _ = base
  c = scaling_util.mesh_config(config, 1, 1, 8)
  c.model.mlp_dim = 60
  with pytest.raises(ValueError, match=r"mlp.*wi.*kernel.*dimension 1 \(60\).*tensor of size 8"):
    experiment.build(c, str(tmp_path / "w"))


def test_rules_from_config_reshard_params_and_keep_the_losses(base, runs, tmp_path):
  config, _ = base
  c = scaling_util.mesh_config(config, 1, 8, 1)
  c.mesh.rules = "embed=,vocab=fsdp"  # no FSDP on embed; the vocabulary over fsdp instead
  exp, state, losses = scaling_util.run_steps(c, str(tmp_path / "w"), STEPS)
  block = ("layers_0", "block")
  assert _spec(state.params, "embed", "token", "embedding") == P("fsdp", None)
  assert _spec(state.params, *block, "mlp", "wi", "kernel") == P(None, "tensor")  # embed unsharded
  np.testing.assert_allclose(losses, runs["one_device"][2], rtol=0, atol=1e-5)


@pytest.mark.parametrize("rules, message", [
    ("embed", "write name=axis"), ("bogus=fsdp", "name one of"),
    ("embed=model", r"unknown mesh axes \['model'\]")])
def test_bad_rules_name_the_entry(rules, message):
  with pytest.raises(ValueError, match=message):
    partitioning.axis_rules(rules)


def test_encoder_activations_follow_the_rules_too(base, tmp_path):
  config, _ = base
  c = scaling_util.mesh_config(config, 4, 1, 2)
  c.objective, c.model.family, c.data.mask_token = "mlm", "bert", True
  exp = experiment.build(c, str(tmp_path / "bert"))
  batch = {k: jnp.zeros((8, 32), jnp.int32) for k in ("inputs", "targets", "segment_ids")}
  batch["weights"] = jnp.ones((8, 32), jnp.float32)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    jaxpr = jax.make_jaxpr(lambda p: exp.loss_fn(p, batch, jax.random.PRNGKey(0), True))(
        exp.abstract_state.params)
  specs = [s.spec for s in _constraints(jaxpr.jaxpr)]
  assert specs and P(("data", "fsdp"), None, None) in specs, specs
