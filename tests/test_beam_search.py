"""Greedy and beam search on toy step functions whose every sequence can be enumerated."""
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import beam_search as bs

V, EOS, START, MAX_LEN, HIDDEN = 4, 1, 2, 4, 5


def toy_model(seed: int, rows: int):
  """A non-Markov toy LM: logits depend on a per-row state folded from every token so far.

  The state lives in the cache, so beam search must reorder it with the beams to be right.
  Returns (step_fn, initial cache, log-prob function of a whole sequence).
  """
  table = jax.random.normal(jax.random.PRNGKey(seed), (rows, MAX_LEN, HIDDEN, V)) * 2.0

  def logits_of(row, i, h):
    return table[row, i, h]

  def step(tokens_N, cache):
    h = (cache["h"] * 3 + tokens_N) % HIDDEN
    row = cache["row"]
    return logits_of(row, cache["i"], h), {"h": h, "i": cache["i"] + 1, "row": row}

  def seq_logprob(row, seq):
    """Sum of token log-probs of seq (stopping after EOS), the reference."""
    h, total, prev = 0, 0.0, START
    for i, tok in enumerate(seq):
      h = (h * 3 + prev) % HIDDEN
      total += float(jax.nn.log_softmax(logits_of(row, i, h))[tok])
      prev = tok
      if tok == EOS:
        break
    return total

  return step, seq_logprob


def initial_cache(rows: int, beams: int):
  return {"h": jnp.zeros(rows * beams, jnp.int32), "i": jnp.zeros((), jnp.int32),
          "row": jnp.repeat(jnp.arange(rows), beams)}


def all_sequences():
  """Every output: content tokens then EOS, or MAX_LEN tokens without EOS."""
  content = [t for t in range(V) if t != EOS]
  for n in range(MAX_LEN):
    for body in itertools.product(content, repeat=n):
      yield list(body) + [EOS]
  yield from (list(s) for s in itertools.product(content, repeat=MAX_LEN))


def length(seq):
  seq = list(np.asarray(seq))
  return seq.index(EOS) + 1 if EOS in seq else len(seq)


@functools.lru_cache(maxsize=None)
def searches(seed: int, beam_size: int, alpha: float, rows: int = 3):
  step, _ = toy_model(seed, rows)
  run = jax.jit(lambda c: bs.beam_search(step, c, rows, beam_size=beam_size, max_len=MAX_LEN,
                                         start_id=START, eos_id=EOS, alpha=alpha))
  return jax.device_get(run(initial_cache(rows, beam_size)))


@functools.lru_cache(maxsize=None)
def greedy(seed: int, rows: int = 3):
  step, _ = toy_model(seed, rows)
  run = jax.jit(lambda c: bs.greedy_search(step, c, rows, max_len=MAX_LEN, start_id=START,
                                           eos_id=EOS))
  return jax.device_get(run(initial_cache(rows, 1)))


@pytest.mark.parametrize("seed", range(4))
def test_beam_size_1_equals_greedy(seed):
  tokens, scores = greedy(seed)
  beam_tokens, beam_scores = searches(seed, 1, 0.0)
  np.testing.assert_array_equal(beam_tokens[:, 0], tokens)
  np.testing.assert_allclose(beam_scores[:, 0], scores, rtol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_scores_are_sums_of_token_logprobs_and_beam_beats_greedy(seed):
  _, seq_logprob = toy_model(seed, 3)
  g_tokens, g_scores = greedy(seed)
  tokens, scores = searches(seed, 3, 0.0)
  for row in range(3):
    assert g_scores[row] == pytest.approx(seq_logprob(row, g_tokens[row]), abs=1e-5)
    for k in range(3):
      assert scores[row, k] == pytest.approx(seq_logprob(row, tokens[row, k]), abs=1e-5)
      assert (tokens[row, k, length(tokens[row, k]):] == 0).all()  # pad after EOS
    assert list(scores[row]) == sorted(scores[row], reverse=True)
    assert scores[row, 0] >= g_scores[row] - 1e-6


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_wide_beam_finds_the_enumerated_best(alpha):
  seed, rows = 7, 3
  _, seq_logprob = toy_model(seed, rows)
  tokens, scores = searches(seed, 27, alpha, rows)  # 3**3 live beams: the search is exact
  for row in range(rows):
    def score(seq):
      return seq_logprob(row, seq) / ((5 + length(seq)) / 6) ** alpha
    best = max(all_sequences(), key=score)
    got = list(tokens[row, 0, :length(tokens[row, 0])])
    assert got == best, (got, best)
    assert scores[row, 0] == pytest.approx(score(best), abs=1e-5)


def test_bad_arguments():
  step, _ = toy_model(0, 1)
  with pytest.raises(ValueError, match="beam_size"):
    bs.beam_search(step, initial_cache(1, 1), 1, beam_size=0, max_len=2, start_id=START,
                   eos_id=EOS)
  with pytest.raises(ValueError, match="alpha"):
    bs.beam_search(step, initial_cache(1, 1), 1, beam_size=2, max_len=2, start_id=START,
                   eos_id=EOS, alpha=-1.0)
