"""GPT beam search: beam 1 is greedy; a wider beam scores at least as well; bad input."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model as model_lib
from eval import beam_generate
from eval import sampling
from experiments.configs import base

NEVER = 10_000  # an EOS id outside the vocabulary: every row runs max_new_tokens


@pytest.fixture(scope="module")
def gpt():
  c = base.get_config().model
  c.update(dict(vocab_size=40, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                mlp_dim=64, max_len=32))
  m = model_lib.build(c)
  params = nn.meta.unbox(m.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))["params"])
  return m, params


def _logprob(m, params, prompt, new):
  """Sum of log p(new | prompt) by a full forward pass (no cache)."""
  seq = jnp.asarray([list(prompt) + list(new)])
  logp = jax.nn.log_softmax(m.apply({"params": params}, seq)[0], -1)
  return float(sum(logp[len(prompt) - 1 + i, t] for i, t in enumerate(new)))


def test_beam_one_is_greedy_and_wider_beams_score_higher(gpt):
  m, params = gpt
  prompt = [5, 9, 3, 17]
  greedy = sampling.generate(m, params, [prompt], max_new_tokens=10, max_len=32,
                             rng=jax.random.PRNGKey(0), temperature=0.0)[0]
  one, score_1 = beam_generate.beam_generate(m, params, prompt, beam_size=1,
                                             max_new_tokens=10, eos_id=NEVER)
  assert one == greedy
  np.testing.assert_allclose(score_1, _logprob(m, params, prompt, one), atol=1e-4)
  four, score_4 = beam_generate.beam_generate(m, params, prompt, beam_size=4,
                                              max_new_tokens=10, eos_id=NEVER)
  np.testing.assert_allclose(score_4, _logprob(m, params, prompt, four), atol=1e-4)
  assert score_4 >= score_1 - 1e-6


def test_beam_bad_input(gpt):
  m, params = gpt
  with pytest.raises(ValueError, match="exceed model.max_len=32"):
    beam_generate.beam_generate(m, params, [1] * 30, beam_size=2, max_new_tokens=5, eos_id=1)
  with pytest.raises(ValueError, match="at least one token"):
    beam_generate.beam_generate(m, params, [], beam_size=2, max_new_tokens=5, eos_id=1)
