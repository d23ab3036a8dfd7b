"""Fast generation: KV-cache decoding in ONE jit-compiled `lax.while_loop`, with strategies.

A model is seen through two functions (`DecodeFns`), so the live model and an exported one
(eval/export.py) run the very same loop:
  prefill(params, tokens_BxP, positions_BxP, cache_mask_BxL) -> (logits_BxV of the last
      token, cache)                    # the whole (left-padded) prompt in one call
  step(params, cache, token_Bx1, positions_Bx1, cache_mask_BxL) -> (logits_BxV, cache)

Batched prompts of different lengths are left-padded to one length P; each row's positions
start at 0 at its first real token and `cache_mask` hides its pad slots, so a row decodes
exactly as it would alone. Rows stop on their own at a stop token (EOS) or stop sequence;
the loop ends when every row has stopped or `max_new_tokens` are out.

Context: the cache has L = min(P + max_new_tokens, max_len) slots. A prompt longer than
max_len - 1 keeps its last max_len - 1 tokens (documented truncation). When the cache fills
before generation ends, the last max_len // 2 tokens are prefilled again into a fresh
cache and decoding continues (a context shift; exact while the left-padded batch fits).

Strategies: greedy (argmax), sample (temperature), top_k, top_p (nucleus); repetition
penalty (CTRL, Keskar et al. 2019) applies to any of them. Each step draws with the key
fold_in(fold_in(seed, step), row), so the same seed gives the same text.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eval import beam_search

STRATEGIES = ("greedy", "sample", "top_k", "top_p")


class DecodeFns(NamedTuple):
  """A model as the decode loop sees it (module docstring)."""
  prefill: Callable
  step: Callable


class Settings(NamedTuple):
  """How the next token is chosen (hashable: part of the compiled loop's cache key)."""
  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  repetition_penalty: float = 1.0


def filter_logits(logits_BxV: jax.Array, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> jax.Array:
  """Scale by temperature, then keep the top-k and the smallest nucleus with mass >= top_p."""
  logits = logits_BxV.astype(jnp.float32) / max(temperature, 1e-6)
  neg = jnp.finfo(jnp.float32).min
  if top_k > 0:
    kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]
    logits = jnp.where(logits < kth, neg, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    cutoff = jnp.min(jnp.where(mass_before < top_p, sorted_logits, jnp.inf), axis=-1,
                     keepdims=True)
    logits = jnp.where(logits < cutoff, neg, logits)
  return logits


def penalize_repeats(logits_BxV: jax.Array, seen_BxV: jax.Array, penalty: float) -> jax.Array:
  """CTRL's repetition penalty: seen tokens' logits divided by penalty (multiplied if < 0)."""
  if penalty == 1.0:
    return logits_BxV
  scaled = jnp.where(logits_BxV > 0, logits_BxV / penalty, logits_BxV * penalty)
  return jnp.where(seen_BxV, scaled, logits_BxV)


def sample_token(rng: jax.Array, logits_BxV: jax.Array, temperature: float, top_k: int,
                 top_p: float) -> jax.Array:
  """The next token of each row (int32 [B]), as the decode loop chooses it: greedy
  (beam_search.greedy_token, the one greedy rule) when temperature == 0, else a draw from
  the filtered distribution with the key fold_in(rng, row)."""
  if temperature == 0.0:
    return beam_search.greedy_token(logits_BxV)
  keys = jax.vmap(lambda r: jax.random.fold_in(rng, r))(jnp.arange(logits_BxV.shape[0]))
  filtered = filter_logits(logits_BxV, temperature, top_k, top_p)
  return jax.vmap(jax.random.categorical)(keys, filtered).astype(jnp.int32)


def strategy_settings(strategy: str, temperature: float = 1.0, top_k: int = 0,
                      top_p: float = 1.0) -> tuple[float, int, float]:
  """(temperature, top_k, top_p) of a named strategy; knobs of other strategies are ignored."""
  if strategy not in STRATEGIES:
    raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
  if strategy == "greedy":
    return 0.0, 0, 1.0
  if temperature <= 0:
    raise ValueError(f"strategy {strategy!r} needs temperature > 0, got {temperature}; "
                     "use strategy 'greedy' for argmax decoding")
  if strategy == "top_k":
    if top_k < 1:
      raise ValueError(f"strategy 'top_k' needs top_k >= 1, got {top_k}")
    return temperature, top_k, 1.0
  if strategy == "top_p":
    if not 0.0 < top_p <= 1.0:
      raise ValueError(f"strategy 'top_p' needs 0 < top_p <= 1, got {top_p}")
    return temperature, 0, top_p
  return temperature, 0, 1.0


def check_settings(s: Settings, prefix: str = "") -> None:
  """ValueError naming the first bad value; prefix names its config group (e.g. sample.)."""
  if not s.temperature >= 0:
    raise ValueError(f"{prefix}temperature={s.temperature} must be >= 0 (0 = greedy)")
  if not s.top_k >= 0:
    raise ValueError(f"{prefix}top_k={s.top_k} must be >= 0 (0 = off)")
  if not 0.0 < s.top_p <= 1.0:
    raise ValueError(f"{prefix}top_p={s.top_p} must be in (0, 1] (1 = off)")
  if not s.repetition_penalty > 0:
    raise ValueError(f"{prefix}repetition_penalty={s.repetition_penalty} must be > 0 (1 = off)")


def model_fns(model: Any, cached: bool = True) -> DecodeFns:
  """DecodeFns of a Linen LM: with the KV cache (model/decoder.py's decode API) when the
  model has one and `cached`, else recomputing the whole window every step (the LSTM;
  the uncached baseline of experiments/bench/generate.py)."""
  import inspect

  has_cache = "decode" in inspect.signature(type(model).__call__).parameters
  return _model_fns(model) if cached and has_cache else _recompute_fns(model)


@functools.lru_cache(maxsize=8)
def _model_fns(model: Any) -> DecodeFns:
  from model import decoder  # not at the top: exported models decode without model/

  def prefill(params, tokens_BxP, positions_BxP, cache_mask_BxL):
    cache = decoder.init_cache(model, tokens_BxP.shape[0], cache_mask_BxL.shape[1])
    return step(params, cache, tokens_BxP, positions_BxP, cache_mask_BxL)

  def step(params, cache, tokens_BxT, positions_BxT, cache_mask_BxL):
    logits, variables = model.apply(
        {"params": params, "cache": cache}, tokens_BxT, positions=positions_BxT,
        decode=True, cache_mask=cache_mask_BxL, mutable=["cache"])
    return logits[:, -1], variables["cache"]

  return DecodeFns(prefill, step)


@functools.lru_cache(maxsize=8)
def _recompute_fns(model: Any) -> DecodeFns:
  """The 'cache' is the token window itself; each step runs the model over all of it."""

  def run(params, window):
    tokens_BxL, positions_BxL, valid_BxL, index = window
    logits_BxLxV = model.apply({"params": params}, tokens_BxL, positions=positions_BxL,
                               segment_ids=valid_BxL.astype(jnp.int32))
    last_BxV = jax.lax.dynamic_index_in_dim(logits_BxLxV, index - 1, axis=1, keepdims=False)
    return last_BxV, window

  def write(window, tokens_BxT, positions_BxT, cache_mask_BxL):
    tokens_BxL, positions_BxL, _, index = window
    tokens_BxL = jax.lax.dynamic_update_slice(tokens_BxL, tokens_BxT, (0, index))
    positions_BxL = jax.lax.dynamic_update_slice(positions_BxL, positions_BxT, (0, index))
    return tokens_BxL, positions_BxL, cache_mask_BxL, index + tokens_BxT.shape[1]

  def prefill(params, tokens_BxP, positions_BxP, cache_mask_BxL):
    empty = jnp.zeros(cache_mask_BxL.shape, jnp.int32)
    return run(params, write((empty, empty, cache_mask_BxL, jnp.int32(0)), tokens_BxP,
                             positions_BxP, cache_mask_BxL))

  def step(params, window, token_Bx1, positions_Bx1, cache_mask_BxL):
    return run(params, write(window, token_Bx1, positions_Bx1, cache_mask_BxL))

  return DecodeFns(prefill, step)


class _Stream:
  """Routes the compiled loop's per-step tokens to the current call's on_token.

  The callback is unordered (ordered effects do not run on several devices); a program
  replicated over devices may call it once per device, so each step is passed on once.
  """
  target: Optional[Callable[[np.ndarray], None]] = None
  next_step = 0

  @classmethod
  def emit(cls, step, tokens_B, live_B):
    if cls.target is not None and int(step) == cls.next_step:
      cls.next_step += 1
      cls.target(np.where(np.asarray(live_B), np.asarray(tokens_B), -1))


@functools.lru_cache(maxsize=32)
def _compiled_loop(fns: DecodeFns, prompt_len: int, cache_len: int, num_new: int,
                   vocab: int, settings: Settings, stops: tuple, stream: bool) -> Callable:
  """jit(params, prompt_BxP, pad_B, rng) -> (new_BxN, length_B) for one configuration."""
  p, length, window = prompt_len, cache_len, max(cache_len // 2, 1)
  total = p + num_new
  slots = jnp.arange(length)

  def choose(key, logits_BxV, seen_BxV):
    logits_BxV = penalize_repeats(logits_BxV, seen_BxV, settings.repetition_penalty)
    return sample_token(key, logits_BxV, settings.temperature, settings.top_k, settings.top_p)

  def run(params, prompt_BxP, pad_B, rng):
    b = prompt_BxP.shape[0]
    seq_BxT = jnp.zeros((b, total), jnp.int32).at[:, :p].set(prompt_BxP)
    real_BxP = jnp.arange(p)[None] >= pad_B[:, None]
    seen_BxV = jnp.zeros((b, vocab), bool).at[
        jnp.arange(b)[:, None], prompt_BxP].max(real_BxP)
    mask_BxL = slots[None] >= pad_B[:, None]
    logits, cache = fns.prefill(params, prompt_BxP,
                                jnp.maximum(jnp.arange(p)[None] - pad_B[:, None], 0), mask_BxL)
    done_B = jnp.zeros(b, bool)
    length_B = jnp.full(b, num_new, jnp.int32)
    # offset: seq index of cache slot 0; origin_B: seq index of each row's position 0.
    state = (jnp.int32(0), jnp.int32(0), pad_B, cache, logits, seq_BxT, seen_BxV, done_B,
             length_B)

    def cond(state):
      i, done_B = state[0], state[7]
      return (i < num_new) & ~jnp.all(done_B)

    def body(state):
      i, offset, origin_B, cache, logits, seq_BxT, seen_BxV, done_B, length_B = state
      tok_B = choose(jax.random.fold_in(rng, i), logits, seen_BxV)
      tok_B = jnp.where(done_B, 0, tok_B)
      a = p + i  # the new token's index in seq
      seq_BxT = jax.lax.dynamic_update_slice(seq_BxT, tok_B[:, None], (0, a))
      seen_BxV = seen_BxV.at[jnp.arange(b), tok_B].set(True)
      if stream:
        jax.debug.callback(_Stream.emit, i, tok_B, ~done_B)
      for stop in stops:  # a stop sequence ending at this token ends the row before it
        m = len(stop)
        tail_BxM = jax.lax.dynamic_slice(seq_BxT, (0, jnp.maximum(a - m + 1, 0)), (b, m))
        hit_B = jnp.all(tail_BxM == jnp.asarray(stop, jnp.int32), axis=1) & (i + 1 >= m)
        length_B = jnp.where(hit_B & ~done_B, i + 1 - m, length_B)
        done_B = done_B | hit_B
      slot = a - offset

      def feed(cache):
        logits, cache = fns.step(params, cache, tok_B[:, None], (a - origin_B)[:, None],
                                 (slots[None] + offset) >= origin_B[:, None])
        return logits, cache, offset, origin_B

      def shift(cache):  # cache full: prefill the last `window` tokens into a fresh cache
        start = a + 1 - window
        new_origin_B = jnp.maximum(origin_B, start)  # positions restart inside the window
        win_BxW = jax.lax.dynamic_slice(seq_BxT, (0, start), (b, window))
        pos_BxW = jnp.maximum(start + jnp.arange(window)[None] - new_origin_B[:, None], 0)
        logits, cache = fns.prefill(params, win_BxW, pos_BxW,
                                    (slots[None] + start) >= new_origin_B[:, None])
        return logits, cache, start, new_origin_B

      if total > length:
        logits, cache, offset, origin_B = jax.lax.cond(slot >= length, shift, feed, cache)
      else:
        logits, cache, offset, origin_B = feed(cache)
      return (i + 1, offset, origin_B, cache, logits, seq_BxT, seen_BxV, done_B, length_B)

    state = jax.lax.while_loop(cond, body, state)
    return state[5][:, p:], jnp.minimum(state[8], state[0])

  return jax.jit(run)


def rollout_loop(model: Any, prompt_len: int, max_new_tokens: int,
                 temperature: float) -> Callable:
  """jit(params, prompt_BxP, pad_B, rng) -> (new_BxN, length_B): N = max_new_tokens
  tokens sampled at `temperature` after each left-padded prompt of prompt_len tokens, with
  no stop token (every row gets all N; the caller cuts at EOS), in the KV-cache loop when
  the model has one. Callable inside another jit (train/tasks/grpo.py's rollouts); needs
  prompt_len + max_new_tokens <= the model's max_len (no context shift)."""
  return _compiled_loop(model_fns(model), prompt_len, prompt_len + max_new_tokens,
                        max_new_tokens, model.cfg.vocab_size, Settings(temperature), (), False)


def decode_tokens(fns: DecodeFns, params: Any, prompts: Sequence[Sequence[int]], *,
                  max_new_tokens: int, max_len: int, vocab_size: int, rng: jax.Array,
                  settings: Settings = Settings(), stop_sequences: Sequence[Sequence[int]] = (),
                  on_token: Optional[Callable[[np.ndarray], None]] = None,
                  bucket: int = 16) -> list[list[int]]:
  """The new tokens of each prompt (stop tokens/sequences not included).

  prompts are token-id lists (each at least one token); a prompt of max_len tokens or more
  keeps its last max_len - 1. stop_sequences: token-id sequences that end a row (e.g.
  [[eos_id]]). on_token(tokens_B) streams each step's tokens (-1 for stopped rows).
  Prompts are left-padded to a multiple of `bucket`, so similar lengths share a compile
  (unless that padding would make the context shift early).
  """
  check_settings(settings)
  if not prompts or any(len(q) == 0 for q in prompts):
    raise ValueError("every prompt needs at least one token (e.g. BOS or EOS)")
  if max_new_tokens < 0:
    raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
  if max_len < 2:
    raise ValueError(f"max_len must be >= 2 to decode, got {max_len}")
  if any(len(s) == 0 for s in stop_sequences):
    raise ValueError("stop sequences must not be empty")
  prompts = [list(q)[-(max_len - 1):] for q in prompts]
  if max_new_tokens == 0:
    return [[] for _ in prompts]
  longest = max(len(q) for q in prompts)
  p = min(-(-longest // bucket) * bucket, max_len - 1)
  if p + max_new_tokens > max_len:  # bucket padding would take cache slots from the context
    p = longest
  cache_len = min(p + max_new_tokens, max_len)
  prompt_BxP = np.zeros((len(prompts), p), np.int32)
  pad_B = np.array([p - len(q) for q in prompts], np.int32)
  for r, q in enumerate(prompts):
    prompt_BxP[r, pad_B[r]:] = q
  stops = tuple(tuple(int(t) for t in s) for s in stop_sequences)
  run = _compiled_loop(fns, p, cache_len, max_new_tokens, vocab_size, settings, stops,
                       on_token is not None)
  _Stream.target, _Stream.next_step = on_token, 0
  try:
    new_BxN, length_B = run(params, prompt_BxP, pad_B, rng)
    new_BxN, length_B = np.asarray(new_BxN), np.asarray(length_B)
    jax.effects_barrier()
  finally:
    _Stream.target = None
  return [new_BxN[r, :length_B[r]].tolist() for r in range(len(prompts))]


def generate(model: Any, params: Any, prompts: Sequence[Sequence[int]], *,
             max_new_tokens: int, max_len: int, rng: jax.Array, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
             eos_id: int | None = None, stop_sequences: Sequence[Sequence[int]] = (),
             on_token: Optional[Callable[[np.ndarray], None]] = None,
             cached: bool = True) -> list[list[int]]:
  """Continue each prompt with a Linen LM; rows stop at EOS. Only the new tokens.

  cached=False recomputes the whole window each step (same tokens, for benchmarks).
  """
  stops = list(stop_sequences) + ([[eos_id]] if eos_id is not None else [])
  return decode_tokens(
      model_fns(model, cached), params, prompts, max_new_tokens=max_new_tokens, max_len=max_len,
      vocab_size=model.cfg.vocab_size, rng=rng,
      settings=Settings(temperature, top_k, top_p, repetition_penalty),
      stop_sequences=stops, on_token=on_token)


def generate_text(exp: Any, params: Any, prompt: str, *, max_new_tokens: int,
                  num_samples: int = 1, seed: int = 0, temperature: float = 1.0,
                  top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                  stop_strings: Sequence[str] = ()) -> list[str]:
  """The text each of num_samples rows adds after `prompt`; the same seed, the same text.

  exp is a train.experiment.Experiment. Rows start with EOS (a document start) when the
  run packed documents with EOS or the prompt is empty; else with the prompt alone, as a
  model that never saw EOS in training would be thrown by it. A row ends at EOS or at the
  first of `stop_strings` (cut from the text).
  """
  from train import partitioning  # not at the top: exported models decode without model/

  if num_samples < 1 or max_new_tokens < 0:
    raise ValueError(f"need num_samples >= 1 and max_new_tokens >= 0, got {num_samples} "
                     f"and {max_new_tokens}")
  tok = exp.tokenizer
  ids = prompt_ids(exp, prompt)
  with partitioning.mesh_context(exp.mesh):
    outs = generate(
        exp.model, params, [ids] * num_samples, max_new_tokens=max_new_tokens,
        max_len=exp.model_config.max_len, rng=jax.random.PRNGKey(seed),
        temperature=temperature, top_k=top_k, top_p=top_p,
        repetition_penalty=repetition_penalty, eos_id=tok.eos_id,
        stop_sequences=[tok.encode(s) for s in stop_strings if s])
  return [cut_at_stop(tok.decode(o), stop_strings) for o in outs]


def prompt_ids(exp: Any, prompt: str) -> list[int]:
  """The token ids a row starts from (see generate_text: EOS first when the run packed
  documents with EOS or the prompt is empty)."""
  from data import prompts  # not at the top: see generate_text

  return prompts.prompt_tokens(exp.tokenizer, prompt, exp.config.data.add_eos)


def cut_at_stop(text: str, stop_strings: Sequence[str]) -> str:
  """`text` up to the first stop string (token-level matching may miss a differently
  tokenized occurrence; the text-level cut catches it)."""
  cuts = [text.find(s) for s in stop_strings if s and s in text]
  return text[:min(cuts)] if cuts else text


def generate_from_workdir(workdir: str, prompt: str, *, max_new_tokens: int,
                          strategy: str = "sample", temperature: float = 1.0,
                          top_k: int = 0, top_p: float = 1.0, num_samples: int = 1,
                          seed: int = 0, step: int | None = None,
                          repetition_penalty: float = 1.0,
                          stop_strings: Sequence[str] = ()) -> list[str]:
  """Continuations of `prompt` from checkpoint `step` (default latest) of a trained run."""
  from eval import restore as restore_lib  # not at the top: see generate_text

  temperature, top_k, top_p = strategy_settings(strategy, temperature, top_k, top_p)
  restored = restore_lib.restore_params(workdir, step)
  return generate_text(restored.exp, restored.params, prompt, max_new_tokens=max_new_tokens,
                       num_samples=num_samples, seed=seed, temperature=temperature,
                       top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
                       stop_strings=stop_strings)
