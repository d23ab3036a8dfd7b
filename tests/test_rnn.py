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
