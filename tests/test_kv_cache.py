"""KV cache: prefill + one token per step gives the full forward pass's logits."""
import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model
from experiments.configs import base
from model import decoder


def _tiny(**overrides):
  c = base.get_config().model
  c.vocab_size, c.d_model, c.num_layers, c.num_heads, c.mlp_dim, c.max_len = 37, 32, 2, 4, 64, 16
  c.update(overrides)
  return c


def _cached_logits(m, params, tokens_BxT, prefill, cache_len, left_pad=None):
  """Prefill `prefill` tokens in one call, then feed the rest one by one; all logits."""
  b, t = tokens_BxT.shape
  pad_B = np.zeros(b, np.int32) if left_pad is None else left_pad
  slots = np.arange(cache_len)
  valid_BxL = jnp.asarray(slots[None] >= pad_B[:, None])
  pos_BxT = np.maximum(np.arange(t)[None] - pad_B[:, None], 0)
  cache = decoder.init_cache(m, b, cache_len)
  step = jax.jit(lambda p, c, tok, pos: m.apply(
      {"params": p, "cache": c}, tok, positions=pos, decode=True, cache_mask=valid_BxL,
      mutable=["cache"]))
  out, var = step(params, cache, tokens_BxT[:, :prefill], pos_BxT[:, :prefill])
  outs = [out]
  for i in range(prefill, t):
    out, var = step(params, var["cache"], tokens_BxT[:, i:i + 1], pos_BxT[:, i:i + 1])
    outs.append(out)
  return np.concatenate([np.asarray(o) for o in outs], axis=1), var["cache"]


@pytest.mark.parametrize("overrides", [
    dict(position="learned", num_kv_heads=2, activation="swiglu", norm="rmsnorm"),
    dict(position="sinusoidal", num_kv_heads=1),
    dict(position="rope", num_kv_heads=4, scan_layers=True, remat="full"),
])
def test_cached_decoding_equals_full_forward(overrides):
  cfg = _tiny(**overrides)
  m = model.build(cfg)
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 37, (2, 12)), jnp.int32)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), tokens)["params"])
  full = np.asarray(m.apply({"params": params}, tokens))
  cached, cache = _cached_logits(m, params, tokens, prefill=5, cache_len=16)
  np.testing.assert_allclose(cached, full, atol=2e-5, rtol=1e-5)
  np.testing.assert_array_equal(cached.argmax(-1), full.argmax(-1))
  # GQA: the cache holds kv heads, not query heads; the index counts the tokens fed.
  keys = [v for k, v in jax.tree_util.tree_leaves_with_path(cache)
          if "cached_key" in jax.tree_util.keystr(k)]
  assert keys[0].shape[-2:] == (cfg.num_kv_heads, 8)
  idx = [v for k, v in jax.tree_util.tree_leaves_with_path(cache)
         if "cache_index" in jax.tree_util.keystr(k)]
  assert all(np.all(np.asarray(i) == 12) for i in idx)


def test_left_padded_row_equals_unpadded_row():
  """A row left-padded by 3 slots (masked, positions shifted) gives the unpadded logits."""
  cfg = _tiny(position="rope", num_kv_heads=2)
  m = model.build(cfg)
  row = np.random.default_rng(1).integers(3, 37, (1, 9)).astype(np.int32)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), jnp.asarray(row))["params"])
  full = np.asarray(m.apply({"params": params}, jnp.asarray(row)))
  padded = np.concatenate([np.zeros((1, 3), np.int32), row], axis=1)
  cached, _ = _cached_logits(m, params, jnp.asarray(padded), prefill=6, cache_len=16,
                             left_pad=np.array([3], np.int32))
  np.testing.assert_allclose(cached[:, 3:], full, atol=2e-5, rtol=1e-5)


def test_decode_needs_positions():
  m = model.build(_tiny())
  tokens = jnp.zeros((1, 4), jnp.int32)
  params = m.init(jax.random.key(0), tokens)["params"]
  with pytest.raises(ValueError, match="explicit positions"):
    m.apply({"params": params, "cache": decoder.init_cache(m, 1, 8)}, tokens, decode=True,
            mutable=["cache"])


@pytest.mark.parametrize("left_pad", [0, 3])
def test_bidirectional_prefill_equals_the_prefix_lm_forward(left_pad):
  """A prefix LM (bidirectional_prefill) decodes with the cache: the prompt's prefill reads
  it both ways, later tokens causally, the same logits as prefix_mask over the prompt."""
  cfg = _tiny(position="rope", num_kv_heads=2)
  m = model.build(cfg).clone(bidirectional_prefill=True)
  prompt_len = 6
  row = np.random.default_rng(2).integers(3, 37, (1, 11)).astype(np.int32)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), jnp.asarray(row))["params"])
  prefix = jnp.asarray(np.arange(11)[None] < prompt_len)
  full = np.asarray(m.apply({"params": params}, jnp.asarray(row), prefix_mask=prefix))
  causal = np.asarray(m.apply({"params": params}, jnp.asarray(row)))
  assert np.abs(full[:, :prompt_len - 1] - causal[:, :prompt_len - 1]).max() > 1e-3
  padded = np.concatenate([np.zeros((1, left_pad), np.int32), row], axis=1)
  cached, _ = _cached_logits(m, params, jnp.asarray(padded), prefill=left_pad + prompt_len,
                             cache_len=16, left_pad=np.array([left_pad], np.int32))
  np.testing.assert_allclose(cached[:, left_pad:], full, atol=2e-5, rtol=1e-5)
