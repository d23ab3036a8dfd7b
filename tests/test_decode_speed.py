"""Decode speed is measured on the real greedy loop: its tokens are the recompute path's."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

import model as model_lib
from eval import decode_speed
from experiments.configs import base


def test_measured_decode_makes_the_greedy_tokens_of_the_uncached_model():
  c = base.get_config().model
  c.update(dict(vocab_size=40, d_model=32, num_layers=2, num_heads=4, num_kv_heads=2,
                mlp_dim=64, max_len=32))
  model = model_lib.build(c)
  params = nn.meta.unbox(model.init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32))
                         ["params"])
  kwargs = dict(batch=3, prompt_len=5, new_tokens=10, max_len=32, vocab_size=40)
  speed, cached = decode_speed.decode_tokens_per_sec(model, params, **kwargs)
  _, recomputed = decode_speed.decode_tokens_per_sec(model, params, cached=False, **kwargs)
  assert speed > 0 and cached == recomputed and all(len(o) == 10 for o in cached)
  with pytest.raises(ValueError, match="new_tokens >= 1"):
    decode_speed.decode_tokens_per_sec(model, params, **dict(kwargs, new_tokens=0))
