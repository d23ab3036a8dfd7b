"""GPT decoder: causality, variants, scan == unrolled, config validation."""
import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model
from experiments.configs import base
from model import layers


def tiny_model_config(**overrides):
  c = base.get_config().model
  c.vocab_size, c.d_model, c.num_layers, c.num_heads, c.mlp_dim, c.max_len = 37, 32, 2, 4, 64, 16
  c.update(overrides)
  return c


def _init_apply(cfg, tokens, **kw):
  m = model.build(cfg)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), tokens)["params"])
  return m, params


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rope", "none"])
def test_logits_at_t_do_not_depend_on_later_tokens(position):
  cfg = tiny_model_config(position=position, num_kv_heads=2, activation="swiglu")
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 37, (2, 12)), jnp.int32)
  m, params = _init_apply(cfg, tokens)

  def logits_t(scale_BxT, t):
    """Position t's logits, with each input position's embedding scaled by scale_BxT."""
    out = m.apply({"params": params}, tokens,
                  method=lambda mod, toks: _apply_with_embed_hook(mod, toks, scale_BxT))
    return out[:, t].sum()

  for t in (0, 5, 11):
    g = jax.grad(logits_t)(jnp.ones(tokens.shape), t)
    assert np.all(np.asarray(g[:, t + 1:]) == 0.0), f"position {t} sees the future"
    assert np.any(np.asarray(g[:, :t + 1]) != 0.0)


def _apply_with_embed_hook(mod, tokens, scale_BxT):
  """Run the decoder with its embedding output scaled per position (for gradients)."""
  import flax.linen as nn

  def interceptor(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if context.module.name == "embed" and context.method_name == "__call__":
      return out * scale_BxT[..., None]
    return out

  with nn.intercept_methods(interceptor):
    return mod(tokens)


@pytest.mark.parametrize("overrides", [
    dict(norm="rmsnorm", activation="relu"),
    dict(norm_placement="post", position="sinusoidal"),
    dict(tie_embeddings=False, use_bias=True),
    dict(num_kv_heads=1, position="rope", attention_impl="jax"),
])
def test_variants_give_finite_distinct_logits(overrides):
  cfg = tiny_model_config(**overrides)
  tokens = jnp.arange(24, dtype=jnp.int32).reshape(2, 12) % 37
  m, params = _init_apply(cfg, tokens)
  logits = m.apply({"params": params}, tokens)
  assert logits.shape == (2, 12, 37) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))
  assert float(jnp.std(logits[:, 0] - logits[:, 5])) > 0


def test_xla_and_jax_attention_give_same_logits():
  tokens = jnp.arange(24, dtype=jnp.int32).reshape(2, 12) % 37
  cfg = tiny_model_config(num_kv_heads=2)
  m, params = _init_apply(cfg, tokens)
  cfg_jax = tiny_model_config(num_kv_heads=2, attention_impl="jax")
  a = m.apply({"params": params}, tokens)
  b = model.build(cfg_jax).apply({"params": params}, tokens)
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_scanned_layers_equal_unrolled_layers():
  tokens = jnp.arange(24, dtype=jnp.int32).reshape(2, 12) % 37
  m, params = _init_apply(tiny_model_config(), tokens)
  scanned = model.build(tiny_model_config(scan_layers=True, remat="full"))
  stacked = {k: v for k, v in params.items() if not k.startswith("layers_")}
  stacked["layers"] = {"block": jax.tree.map(
      lambda *xs: jnp.stack(xs), *[params[f"layers_{i}"]["block"] for i in range(2)])}
  np.testing.assert_allclose(scanned.apply({"params": stacked}, tokens),
                             m.apply({"params": params}, tokens), atol=1e-5)


@pytest.mark.parametrize("overrides,match", [
    (dict(d_model=30, num_heads=4), "must divide model.d_model"),
    (dict(num_heads=4, num_kv_heads=3), "multiple of"),
    (dict(position="alibi"), "unknown model.position"),
    (dict(norm="batchnorm"), "unknown model.norm"),
    (dict(activation="tanh"), "unknown model.activation"),
])
def test_bad_model_config_raises_clear_error(overrides, match):
  with pytest.raises(ValueError, match=match):
    model.build(tiny_model_config(**overrides))


def test_sequence_longer_than_max_len_raises():
  m = model.build(tiny_model_config())
  tokens = jnp.zeros((1, 17), jnp.int32)
  with pytest.raises(ValueError, match="exceeds model.max_len"):
    m.init(jax.random.key(0), tokens)


@pytest.mark.parametrize("position", ["learned", "sinusoidal"])
def test_position_signal_is_the_size_of_the_token_signal_at_init(position):
  """Unit sinusoids once drowned 0.02-std token embeddings (+1.6 nats in a sweep)."""
  from model import layers
  cfg = layers.TransformerConfig.from_config(tiny_model_config(position=position))
  tokens = jnp.arange(16)[None] % 37
  positions = jnp.arange(16)[None]
  embedder = layers.Embedder(cfg)
  variables = embedder.init(jax.random.key(0), tokens, positions)
  with_positions = embedder.apply(variables, tokens, positions)
  token_only = embedder.apply(variables, tokens, positions, method=lambda m, t, p: m.token(t))
  ratio = jnp.std(with_positions - token_only) / jnp.std(token_only)
  assert 0.5 < float(ratio) < 2.0, ratio


def _last_outputs(family, position, rows):
  """Each per-token output of a one-layer model at the last position of each row.

  One layer: deeper causal stacks learn order from the causal mask alone. init_std 0.3
  makes attention far from uniform, so RoPE and biases move the output clearly.
  """
  cfg = tiny_model_config(family=family, position=position, num_layers=1, init_std=0.3)
  m = model.build(cfg)
  tokens = jnp.asarray(rows, jnp.int32)
  args = (tokens, tokens) if family == "encoder_decoder" else (tokens,)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), *args)["params"])
  out = m.apply({"params": params}, *args)
  return [np.asarray(x)[:, -1] for x in jax.tree.leaves(out) if x.shape[:2] == tokens.shape]


@pytest.mark.parametrize("family", ["gpt", "bert", "electra", "encoder_decoder"])
@pytest.mark.parametrize("position", model.positions.TYPES)
def test_every_accepted_position_type_reaches_the_model(family, position):
  """Attention alone is blind to order: with no positions, swapping two earlier tokens
  leaves the last position's output as it was. Every type a family accepts must change
  it; a type the family would ignore (T5's relative bias outside the encoder-decoder,
  which once trained with no positional signal) is refused when the model is built."""
  rows = [[3, 9, 4, 7, 11, 6, 8, 5], [7, 9, 4, 3, 11, 6, 8, 5]]  # tokens 0 and 3 swapped
  try:
    outputs = _last_outputs(family, position, rows)
  except ValueError as e:
    assert "no positional signal" in str(e)
    assert model.positions.attention_bias(position) and family != "encoder_decoder"
    return
  change = max(float(np.abs(x[0] - x[1]).max() / np.abs(x).mean()) for x in outputs)
  if position == "none":
    assert change < 1e-4  # float rounding only (measured <= 2e-6)
  else:
    assert change > 1e-2, (family, position, change)  # measured 0.17-2.6


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_matches_jax_gelu_and_its_gradient(approximate):
  """layers.gelu's exact form (erf) against jax.nn.gelu's (erfc), values and gradients."""
  x = jnp.linspace(-12.0, 12.0, 4001)
  got_grad = jax.grad(lambda v: layers.gelu(v, approximate).sum())(x)
  want_grad = jax.grad(lambda v: jax.nn.gelu(v, approximate=approximate).sum())(x)
  np.testing.assert_allclose(layers.gelu(x, approximate),
                             jax.nn.gelu(x, approximate=approximate), rtol=0, atol=5e-6)
  np.testing.assert_allclose(got_grad, want_grad, rtol=0, atol=5e-6)
  if not approximate:  # and not the tanh approximation, which differs by up to ~5e-4
    assert float(jnp.abs(layers.gelu(x, False) - jax.nn.gelu(x, approximate=True)).max()) > 1e-4
