"""LSTM LM: causal, documents reset, and it trains/resumes through the shared loop."""
import json
import os

import flax.linen
import jax
import jax.numpy as jnp
import numpy as np

import model
from experiments.configs import base
from tests import tiny
from train import flops
from train import loop


def lstm_model_config(**overrides):
  c = base.get_config().model
  c.family, c.vocab_size, c.d_model, c.num_layers, c.max_len = "lstm", 37, 32, 2, 16
  c.update(overrides)
  return c


def _init(cfg, tokens):
  m = model.build(cfg)
  return m, flax.linen.meta.unbox(m.init(jax.random.key(0), tokens)["params"])


def test_logits_at_t_do_not_depend_on_later_tokens():
  tokens = jnp.asarray(np.random.default_rng(0).integers(0, 37, (2, 12)), jnp.int32)
  m, params = _init(lstm_model_config(tie_embeddings=False), tokens)
  base_logits = m.apply({"params": params}, tokens)
  for t in (0, 5, 10):
    changed = tokens.at[:, t + 1:].set((tokens[:, t + 1:] + 7) % 37)
    out = m.apply({"params": params}, changed)
    np.testing.assert_array_equal(out[:, :t + 1], base_logits[:, :t + 1])
    assert np.abs(np.asarray(out[:, t + 1:] - base_logits[:, t + 1:])).max() > 0


def test_segments_restart_the_state():
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, 37, (2, 12)), jnp.int32)
  m, params = _init(lstm_model_config(), tokens)
  segments = jnp.asarray([[1] * 5 + [2] * 7] * 2)
  packed = m.apply({"params": params}, tokens, segment_ids=segments)
  alone = m.apply({"params": params}, tokens[:, 5:])
  np.testing.assert_allclose(packed[:, 5:], alone, atol=1e-6)


def test_flops_count_the_lstm_matmuls():
  cfg = model.build(lstm_model_config(d_model=8, num_layers=3)).cfg
  assert flops.flops_per_token(cfg, 16) == 6.0 * (3 * 8 * 8 * 8 + 8 * 37)


def test_lstm_trains_and_resumes_through_the_shared_loop(tmp_path):
  corpus = tiny.write_corpus(str(tmp_path))
  c = tiny.tiny_config(corpus, str(tmp_path / "tfds"), steps=60, checkpoint_every=100,
                       eval_every=100)
  c.model.family = "lstm"
  c.sample.num_samples = 0
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  report = loop.train_and_evaluate(c, straight)
  assert loop.train_and_evaluate(c, resumed, stop_after=29) is None
  loop.train_and_evaluate(c, resumed)

  def losses(workdir):
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]

  first, last = losses(straight)[0][1], np.mean([l for _, l in losses(straight)[-5:]])
  assert first > 3.0 and last < 1.5, (first, last)  # ln(vocab) -> well below the unigram ~2.9
  assert report["loss"] < 1.5
  assert losses(straight) == losses(resumed)  # the shared checkpointing resumes exactly


def test_init_uniform_bounds_every_param_and_output_bias_is_added():
  tokens = jnp.zeros((2, 4), jnp.int32)
  _, default = _init(lstm_model_config(tie_embeddings=False), tokens)
  assert "output_bias" not in default  # defaults: today's params
  _, params = _init(lstm_model_config(tie_embeddings=False, init_uniform=0.1,
                                      output_bias=True), tokens)
  assert params["output_bias"].shape == (37,)
  for path, x in jax.tree_util.tree_flatten_with_path(params)[0]:
    assert np.abs(np.asarray(x)).max() <= 0.1, jax.tree_util.keystr(path)
    assert np.asarray(x).std() > 0.04, jax.tree_util.keystr(path)  # U(-.1,.1): std .058


def test_fused_layer_backward_matches_autodiff():
  from model import rnn
  k = jax.random.split(jax.random.key(0), 6)
  T, B, H = 7, 3, 5
  xw = jax.random.normal(k[0], (T, B, 4 * H))
  wh = jax.random.normal(k[1], (H, 4 * H)) * 0.5
  keep = jnp.ones((T, B)).at[3, 1].set(0.0)  # a document restarts mid-row
  c0, h0 = jax.random.normal(k[2], (B, H)), jax.random.normal(k[3], (B, H))
  weights = [jax.random.normal(k[4], (T, B, H)), jax.random.normal(k[5], (B, H)),
             jnp.ones((B, H))]

  def reference(xw, wh, keep, c0, h0):
    _, _, hs, _, _, c, h = rnn._forward(xw, wh, keep, c0, h0)
    return hs, c, h

  def scalar(fn):
    return lambda *a: sum(jnp.sum(o * w) for o, w in zip(fn(*a), weights))
  want = jax.grad(scalar(reference), argnums=(0, 1, 3, 4))(xw, wh, keep, c0, h0)
  got = jax.grad(scalar(rnn.lstm_layer), argnums=(0, 1, 3, 4))(xw, wh, keep, c0, h0)
  for a, b in zip(want, got):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_carried_state_continues_a_window_exactly():
  tokens = jnp.asarray(np.random.default_rng(2).integers(0, 37, (2, 12)), jnp.int32)
  m, params = _init(lstm_model_config(), tokens)
  whole, final = m.apply({"params": params}, tokens, return_carry=True)
  first, carry = m.apply({"params": params}, tokens[:, :5], return_carry=True)
  second, carry = m.apply({"params": params}, tokens[:, 5:], initial_carry=carry,
                          return_carry=True)
  np.testing.assert_allclose(jnp.concatenate([first, second], 1), whole, atol=1e-5)
  np.testing.assert_allclose(carry, final, atol=1e-6)
  assert final.shape == (2, 2, 2, 32)  # [batch, layers, (c, h), hidden]


def test_fused_layer_without_restarts_matches_all_ones_keep():
  from model import rnn
  k = jax.random.split(jax.random.key(1), 3)
  xw, wh = jax.random.normal(k[0], (6, 2, 12)), jax.random.normal(k[1], (3, 12))
  c0 = h0 = jax.random.normal(k[2], (2, 3))
  loss = lambda keep: lambda xw, wh, c0, h0: sum(
      jnp.sum(o ** 2) for o in rnn.lstm_layer(xw, wh, keep, c0, h0))
  a = jax.grad(loss(jnp.ones((6, 2))), argnums=(0, 1, 2, 3))(xw, wh, c0, h0)
  b = jax.grad(loss(None), argnums=(0, 1, 2, 3))(xw, wh, c0, h0)
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


def test_first_argmax_is_jnp_argmax_with_ties():
  from train import objectives
  x = jnp.asarray(np.random.default_rng(3).normal(size=(3, 5, 37)), jnp.float32)
  x = x.at[0, 1, 9].set(x[0, 1].max()).at[1, 2].set(0.0).at[2, 0, -1].set(100.0)
  np.testing.assert_array_equal(objectives.first_argmax(x), jnp.argmax(x, -1))
