"""The BERT-family encoder: attends both ways, ignores padding, ALBERT sharing, ELECTRA."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model as model_lib
from experiments.configs import base


def encoder_config(**overrides):
  m = base.get_config().model
  m.update(family="bert", vocab_size=40, d_model=32, num_heads=4, mlp_dim=64, max_len=16,
           num_layers=2, norm_placement="post", use_bias=True)
  m.update(overrides)
  return m


def param_count(m, tokens):
  params = m.init(jax.random.PRNGKey(0), tokens)["params"]
  return sum(x.size for x in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def bert():
  m = model_lib.build(encoder_config())
  tokens = jnp.array([[5, 6, 7, 8, 9, 10, 0, 0], [11, 12, 13, 14, 15, 16, 17, 18]])
  return m, nn.meta.unbox(m.init(jax.random.PRNGKey(1), tokens)), tokens


def test_changing_a_later_token_changes_earlier_outputs(bert):
  m, params, tokens = bert
  h1 = m.apply(params, tokens)["hidden"]
  h2 = m.apply(params, tokens.at[:, 5].set(30))["hidden"]
  assert float(jnp.abs(h1[:, 1] - h2[:, 1]).max()) > 1e-4


def test_gradient_of_early_output_wrt_later_embedding_is_nonzero(bert):
  m, params, tokens = bert
  table = params["params"]["embed"]["tokens"]["token"]["embedding"]
  def out_at_1(table_VxD):
    p = jax.tree.map(lambda x: x, params)  # a copy whose token table is the argument
    p["params"]["embed"]["tokens"]["token"]["embedding"] = table_VxD
    h_D = m.apply(p, tokens)["hidden"][1, 1]
    return jnp.dot(h_D, jnp.linspace(-1.0, 1.0, h_D.size))  # (a plain sum of a norm is ~0)
  grad_VxD = jax.grad(out_at_1)(table)
  later_token = int(tokens[1, 7])  # appears only at position 7
  assert float(jnp.abs(grad_VxD[later_token]).max()) > 1e-6


def test_padding_does_not_change_non_pad_outputs(bert):
  m, params, tokens = bert
  out = m.apply(params, tokens)
  # Row 0's positions 6, 7 are padding: other ids there (still marked padding by the
  # segment ids) must not change any non-pad output.
  segment_ids = (tokens != 0).astype(jnp.int32)
  changed = tokens.at[0, 6:].set(jnp.array([21, 22]))
  out2 = m.apply(params, changed, segment_ids=segment_ids)
  np.testing.assert_allclose(out["hidden"][0, :6], out2["hidden"][0, :6], atol=1e-6)
  np.testing.assert_allclose(out["mlm"][0, :6], out2["mlm"][0, :6], atol=1e-5)
  np.testing.assert_allclose(out["pair"][0], out2["pair"][0], atol=1e-6)


def test_heads_have_expected_shapes_and_mlm_is_tied(bert):
  m, params, tokens = bert
  out = m.apply(params, tokens)
  assert out["mlm"].shape == (2, 8, 40) and out["pair"].shape == (2, 2)
  assert out["rtd"].shape == (2, 8)
  assert "mlm_bias" in params["params"]
  assert not any("lm_head" in k for k in params["params"])  # output = input table


def test_albert_param_count_is_independent_of_depth():
  tokens = jnp.ones((1, 8), jnp.int32)
  counts = {n: param_count(model_lib.build(encoder_config(share_layers=True, num_layers=n)),
                           tokens) for n in (1, 2, 4)}
  assert counts[1] == counts[2] == counts[4], counts
  unshared = param_count(model_lib.build(encoder_config(num_layers=4)), tokens)
  assert unshared > counts[4]


def test_albert_factorized_embeddings_use_embed_dim():
  m = model_lib.build(encoder_config(embed_dim=8))
  params = nn.meta.unbox(m.init(jax.random.PRNGKey(0), jnp.ones((1, 8), jnp.int32)))["params"]
  assert params["embed"]["tokens"]["token"]["embedding"].shape == (40, 8)
  assert params["embed_proj"]["kernel"].shape == (8, 32)
  out = m.apply({"params": params}, jnp.ones((1, 8), jnp.int32))
  assert out["mlm"].shape == (1, 8, 40)
  with pytest.raises(ValueError, match="embed_dim"):
    model_lib.build(encoder_config(embed_dim=64))


def test_electra_generator_is_smaller_and_shares_the_embeddings():
  m = model_lib.build(encoder_config(family="electra", generator_ratio=0.25))
  tokens = jnp.ones((1, 8), jnp.int32)
  params = nn.meta.unbox(m.init(jax.random.PRNGKey(0), tokens))["params"]
  assert set(params) == {"embed", "generator", "discriminator"}
  assert params["generator"]["embed_proj"]["kernel"].shape == (32, 8)  # 1/4 width
  assert "embed" not in params["generator"] and "embed" not in params["discriminator"]
  assert m.apply({"params": params}, tokens, method="generate")["mlm"].shape == (1, 8, 40)
  assert m.apply({"params": params}, tokens)["rtd"].shape == (1, 8)
