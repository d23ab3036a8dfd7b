"""Generation: one compiled KV-cache loop; batched == one by one == recompute; strategies."""
import flax.linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model
from eval import sampling
from experiments.configs import base

MAX_LEN = 24


@pytest.fixture(scope="module")
def lm():
  c = base.get_config().model
  c.vocab_size, c.d_model, c.num_layers, c.num_heads, c.mlp_dim = 37, 32, 1, 4, 64
  c.max_len, c.position, c.num_kv_heads = MAX_LEN, "rope", 2
  m = model.build(c)
  params = flax.linen.meta.unbox(m.init(jax.random.key(0), jnp.zeros((1, 8), jnp.int32))["params"])
  # Random init gives near-uniform logits (argmax ties by noise); sharpen them.
  return m, jax.tree.map(lambda x: x * 8 if x.ndim == 2 else x, params)


PROMPTS = [[3, 4, 5], [7, 8, 9, 10, 11, 12, 13], [20]]


def _gen(lm, prompts, **kw):
  m, params = lm
  kw = {"max_new_tokens": 12, "max_len": MAX_LEN, "rng": jax.random.PRNGKey(0),
        "temperature": 0.0, **kw}
  return sampling.generate(m, params, prompts, **kw)


def test_batched_equals_one_by_one_and_uncached_with_a_context_shift(lm):
  # 30 new tokens > max_len 24: the cache fills and the loop prefills its last half again.
  batched = _gen(lm, PROMPTS, max_new_tokens=30)
  alone = [_gen(lm, [p], max_new_tokens=30)[0] for p in PROMPTS]
  recomputed = _gen(lm, PROMPTS, max_new_tokens=30, cached=False)
  assert batched == alone == recomputed
  assert [len(r) for r in batched] == [30, 30, 30]
  assert len(set(map(tuple, batched))) == 3


def test_uncached_window_matches_full_forward_greedy(lm):
  """Without a shift, greedy tokens are the argmax of a plain forward over prompt + output."""
  m, params = lm
  out = _gen(lm, [PROMPTS[1]], max_new_tokens=10)[0]
  seq = PROMPTS[1] + out
  logits = m.apply({"params": params}, jnp.asarray([seq]))[0]
  np.testing.assert_array_equal(np.argmax(logits[len(PROMPTS[1]) - 1:-1], -1), out)


def test_seed_and_temperature(lm):
  a = _gen(lm, PROMPTS, temperature=1.0)
  assert a == _gen(lm, PROMPTS, temperature=1.0)
  assert a != _gen(lm, PROMPTS, temperature=1.0, rng=jax.random.PRNGKey(1))
  assert _gen(lm, PROMPTS, temperature=1e-4) == _gen(lm, PROMPTS)  # T -> 0 is greedy


def _first(row, seq):
  hits = [i for i in range(len(row)) if row[i:i + len(seq)] == seq]
  return hits[0] if hits else None


def test_stops_streaming_and_truncation(lm):
  full = _gen(lm, PROMPTS)
  stop, eos = full[1][4:6], full[2][2]  # row r ends before the first stop or EOS
  streamed = []
  out = _gen(lm, PROMPTS, stop_sequences=[stop], eos_id=eos, on_token=streamed.append)
  got = np.stack(streamed).T
  for r in range(3):
    ends = [i for i in (_first(full[r], stop), _first(full[r], [eos])) if i is not None]
    assert out[r] == full[r][:min(ends, default=len(full[r]))]
    assert got[r][got[r] >= 0].tolist() == full[r][:len(got[r][got[r] >= 0])]  # streamed
    assert len(got[r][got[r] >= 0]) >= len(out[r])
  assert len(out[1]) <= 4 and len(out[2]) <= 2
  long_prompt = list(np.random.default_rng(0).integers(3, 37, 40))
  assert _gen(lm, [long_prompt]) == _gen(lm, [long_prompt[-(MAX_LEN - 1):]])


def _fixed_fns(logits_V):
  """A 'model' whose next-token logits never change: isolates the strategies."""
  def prefill(params, tokens_BxP, positions, mask):
    return jnp.broadcast_to(logits_V, (tokens_BxP.shape[0], logits_V.shape[0])), jnp.int32(0)

  def step(params, cache, token_Bx1, positions, mask):
    return prefill(params, token_Bx1, positions, mask)
  return sampling.DecodeFns(prefill, step)


LOGITS = jnp.log(jnp.array([0.02, 0.3, 0.05, 0.25, 0.03, 0.2, 0.1, 0.05]))


@pytest.mark.parametrize("settings, allowed", [
    (sampling.Settings(1.0, 3, 1.0), {1, 3, 5}),
    (sampling.Settings(1.0, 0, 0.7), {1, 3, 5}),   # 0.3 + 0.25 < 0.7 <= + 0.2
    (sampling.Settings(1.0, 0, 0.5), {1, 3}),
    (sampling.Settings(2.0, 2, 0.9), {1, 3}),
])
def test_samples_stay_inside_the_allowed_set(settings, allowed):
  out = sampling.decode_tokens(
      _fixed_fns(LOGITS), None, [[0]] * 8, max_new_tokens=50, max_len=64, vocab_size=8,
      rng=jax.random.PRNGKey(0), settings=settings)
  drawn = set(np.concatenate(out).tolist())
  assert drawn == allowed  # every allowed token shows up in 400 draws, nothing else


def test_repetition_penalty_walks_down_the_ranking():
  out = sampling.decode_tokens(
      _fixed_fns(LOGITS), None, [[7]], max_new_tokens=4, max_len=64, vocab_size=8,
      rng=jax.random.PRNGKey(0), settings=sampling.Settings(0.0, 0, 1.0, 100.0))
  # log-probs are negative: a seen token's logit is multiplied by 100, so greedy moves on;
  # the prompt's token 7 is penalised too.
  assert out == [[1, 3, 5, 6]]


@pytest.mark.parametrize("kw, match", [
    (dict(settings=sampling.Settings(1.0, 0, 0.0)), "top_p=.* must be in"),
    (dict(settings=sampling.Settings(1.0, 0, 1.5)), "top_p=.* must be in"),
    (dict(settings=sampling.Settings(-1.0)), "temperature=-1.0 must be >= 0"),
    (dict(settings=sampling.Settings(1.0, 0, 1.0, 0.0)), "repetition_penalty=0.0 must be > 0"),
    (dict(prompts=[[]]), "at least one token"),
    (dict(stop_sequences=[[]]), "stop sequences must not be empty"),
])
def test_bad_input_is_a_clear_error(kw, match):
  args = dict(prompts=[[1]], max_new_tokens=4, max_len=16, vocab_size=8,
              rng=jax.random.PRNGKey(0))
  args.update(kw)
  with pytest.raises(ValueError, match=match):
    sampling.decode_tokens(_fixed_fns(LOGITS), None, **args)
  with pytest.raises(ValueError, match="unknown strategy 'beam'"):
    sampling.strategy_settings("beam")
  with pytest.raises(ValueError, match="0 < top_p <= 1"):
    sampling.strategy_settings("top_p", top_p=1.2)
