"""The one attention kernel against a naive numpy softmax(QKᵀ/√d)V."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model import attention


def naive_attention(q, k, v, mask=None, bias=None):
  """Loop-free numpy reference; kv heads repeated for GQA; masked rows -> 0."""
  q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
  b, t, n, h = q.shape
  kh = k.shape[2]
  k = np.repeat(k, n // kh, axis=2)
  v = np.repeat(v, n // kh, axis=2)
  logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(h)
  if bias is not None:
    logits = logits + np.asarray(bias, np.float64)
  full_mask = np.ones(logits.shape, bool) if mask is None else np.broadcast_to(
      np.asarray(mask), logits.shape)
  logits = np.where(full_mask, logits, -np.inf)
  m = np.max(logits, axis=-1, keepdims=True)
  m = np.where(np.isfinite(m), m, 0.0)
  w = np.exp(logits - m)
  denom = w.sum(-1, keepdims=True)
  w = np.where(denom > 0, w / np.where(denom > 0, denom, 1.0), 0.0)
  return np.einsum("bnts,bsnh->btnh", w, v)


def _qkv(b=2, t=5, s=5, n=4, kh=4, h=8, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(b, t, n, h)).astype(np.float32),
          rng.normal(size=(b, s, kh, h)).astype(np.float32),
          rng.normal(size=(b, s, kh, h)).astype(np.float32))


def _causal(t, s):
  return np.tril(np.ones((t, s), bool), k=s - t)[None, None]


def _padding_mask(lengths, s):
  return (np.arange(s)[None, :] < np.asarray(lengths)[:, None])[:, None, None, :]


CASES = {
    "plain": dict(),
    "padding": dict(mask=_padding_mask([5, 3], 5)),
    "causal": dict(causal=True),
    "bias": dict(bias=np.random.default_rng(1).normal(size=(1, 4, 5, 5)).astype(np.float32)),
    "gqa": dict(kh=2),
    "mqa_causal": dict(kh=1, causal=True),
    "cross": dict(s=7, mask=_padding_mask([7, 4], 7)),
    "causal_padding_gqa": dict(kh=2, causal=True, mask=_padding_mask([5, 2], 5)),
}


@pytest.mark.parametrize("implementation", ["xla", "jax"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_naive_reference(case, implementation):
  kw = dict(CASES[case])
  s, kh = kw.pop("s", 5), kw.pop("kh", 4)
  q, k, v = _qkv(s=s, kh=kh)
  causal = kw.pop("causal", False)
  mask = kw.get("mask")
  ref_mask = mask
  if causal:
    cm = _causal(q.shape[1], s)
    ref_mask = cm if mask is None else (cm & mask)
  expected = naive_attention(q, k, v, mask=ref_mask, bias=kw.get("bias"))
  got = attention.dot_product_attention(
      jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), causal=causal,
      implementation=implementation, **{key: jnp.asarray(val) for key, val in kw.items()})
  np.testing.assert_allclose(np.asarray(got), expected, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("implementation", ["xla", "jax"])
def test_fully_masked_rows_are_zero_not_nan(implementation):
  q, k, v = _qkv()
  mask = np.ones((2, 1, 5, 5), bool)
  mask[0, :, 2, :] = False  # query 2 of example 0 sees nothing
  mask[1] = False  # example 1 sees nothing at all
  out = np.asarray(attention.dot_product_attention(
      q, k, v, mask=jnp.asarray(mask), implementation=implementation))
  assert np.all(np.isfinite(out))
  np.testing.assert_array_equal(out[0, 2], 0.0)
  np.testing.assert_array_equal(out[1], 0.0)
  np.testing.assert_allclose(out[0, 0], naive_attention(q, k, v, mask=mask)[0, 0], atol=2e-5)


def test_segment_mask_blocks_other_documents():
  seg = jnp.array([[1, 1, 2, 2, 0]])
  m = np.asarray(attention.make_attention_mask(seg))[0, 0]
  expected = np.array([[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 0],
                       [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]], bool)
  np.testing.assert_array_equal(m, expected)


def test_dropout_is_seeded_and_rescales():
  q, k, v = _qkv()
  kw = dict(dropout_rate=0.5, deterministic=False)
  a = attention.dot_product_attention(q, k, v, dropout_rng=jax.random.key(0), **kw)
  b = attention.dot_product_attention(q, k, v, dropout_rng=jax.random.key(0), **kw)
  c = attention.dot_product_attention(q, k, v, dropout_rng=jax.random.key(1), **kw)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  # With v all ones, each output row is the sum of kept weights / keep_prob: mean ~1.
  ones = jnp.ones_like(v)
  out = attention.dot_product_attention(q, k, ones, dropout_rng=jax.random.key(2), **kw)
  assert abs(float(out.mean()) - 1.0) < 0.2


def test_bad_head_grouping_raises():
  q, k, v = _qkv(kh=3, n=4)
  with pytest.raises(ValueError, match="multiple of num_kv_heads"):
    attention.dot_product_attention(q, k, v)


def _autodiff_attention(q, k, v, mask, dropout_rate=0.0, dropout_rng=None):
  """The kernel's math in plain jnp, for autodiff: the custom backward's reference."""
  from model import dropout as dropout_lib
  n, kh = q.shape[2], k.shape[2]
  k, v = jnp.repeat(k, n // kh, axis=2), jnp.repeat(v, n // kh, axis=2)
  logits = jnp.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  w = jax.nn.softmax(logits, axis=-1)
  if mask is not None:
    w = jnp.where(jnp.broadcast_to(mask, w.shape), w, 0.0)
  if dropout_rate:
    w = dropout_lib.dropout(w, dropout_rate, dropout_rng)
  return jnp.einsum("bnts,bsnh->btnh", w, v)


GRAD_CASES = dict(CASES, fully_masked_rows=dict(mask=np.array(
    [[[[1, 1, 1, 0, 0]] * 2 + [[0] * 5] + [[1] * 5] * 2]] * 2, bool)),
    dropout=dict(kh=2, causal=True, dropout_rate=0.3),
    dropout_padding=dict(mask=_padding_mask([5, 2], 5), dropout_rate=0.5))


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_match_autodiff(case):
  """The softmax-and-values custom backward equals autodiff of the plain formulation,
  dropout included (same seeds, so the same mask)."""
  kw = dict(GRAD_CASES[case])
  kw.pop("bias", None)  # a bias adds to the logits; its gradient path is the logits'
  s, kh = kw.pop("s", 5), kw.pop("kh", 4)
  q, k, v = (jnp.asarray(a) for a in _qkv(s=s, kh=kh, seed=3))
  causal, rate = kw.pop("causal", False), kw.pop("dropout_rate", 0.0)
  mask = kw.get("mask")
  ref_mask = mask
  if causal:
    cm = _causal(q.shape[1], s)
    ref_mask = cm if mask is None else (cm & mask)
  rng = jax.random.key(7)
  g = jax.random.normal(jax.random.key(8), q.shape)

  def got_fn(q, k, v):
    return attention.dot_product_attention(
        q, k, v, mask=None if mask is None else jnp.asarray(mask), causal=causal,
        dropout_rate=rate, dropout_rng=rng, deterministic=not rate)

  def want_fn(q, k, v):
    return _autodiff_attention(q, k, v, None if ref_mask is None else jnp.asarray(ref_mask),
                               rate, rng)

  got, got_vjp = jax.vjp(got_fn, q, k, v)
  want, want_vjp = jax.vjp(want_fn, q, k, v)
  np.testing.assert_allclose(got, want, atol=2e-5, rtol=2e-5)
  for a, b, name in zip(got_vjp(g), want_vjp(g), "qkv"):
    assert np.all(np.isfinite(np.asarray(a))), name
    np.testing.assert_allclose(a, b, atol=5e-5, rtol=5e-5, err_msg=name)
