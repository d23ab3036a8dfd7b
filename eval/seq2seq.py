"""Translate a split with a trained encoder-decoder and score it: BLEU, chrF, exact match.

Decoding runs the encoder once, then greedy (beam_size=1) or beam search
(eval/beam_search.py) over the decoder's KV cache, in one jit-compiled function per
batch shape. Scores come from sacrebleu on detokenized text (the tokenizer's decode of
the output up to EOS against the raw reference string), so they compare with published
numbers computed the same way (sacrebleu's default 13a tokenization, case-sensitive).
"""
from __future__ import annotations

import json
import os
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sacrebleu

from data import seq2seq as seq2seq_data
from data import sources
from data.tokenizers import encode_array
from eval import beam_search
from eval import restore as restore_lib
from model import encoder_decoder as ed
from train import partitioning
from train import tasks


def make_translate_fn(model: ed.EncoderDecoder, *, beam_size: int, alpha: float,
                      max_len: int, eos_id: int):
  """jit(params, inputs [B, S]) -> (tokens [B, max_len], scores [B]) of the best output."""
  start_id = model.opts.decoder_start_id

  @jax.jit
  def translate(params, inputs_BxS):
    b, s = inputs_BxS.shape
    k = beam_size
    encoded = model.apply({"params": params}, inputs_BxS, method=model.encode)
    encoded_N, inputs_N = jnp.repeat(encoded, k, axis=0), jnp.repeat(inputs_BxS, k, axis=0)
    cache = {"kv": ed.init_cache(model, b * k, s, max_len), "i": jnp.zeros((), jnp.int32)}

    def step(tokens_N, c):
      logits, variables = model.apply(
          {"params": params, "cache": c["kv"]}, encoded_N, inputs_N, tokens_N[:, None],
          decode=True, positions=jnp.full((b * k, 1), c["i"]), method=model.decode,
          mutable=["cache"])
      return logits[:, 0], {"kv": variables["cache"], "i": c["i"] + 1}

    if k == 1:
      return beam_search.greedy_search(step, cache, b, max_len=max_len, start_id=start_id,
                                       eos_id=eos_id)
    tokens, scores = beam_search.beam_search(step, cache, b, beam_size=k, max_len=max_len,
                                             start_id=start_id, eos_id=eos_id, alpha=alpha)
    return tokens[:, 0], scores[:, 0]

  return translate


def until_eos(ids: np.ndarray, eos_id: int) -> np.ndarray:
  ids = np.asarray(ids)
  stop = np.flatnonzero(ids == eos_id)
  return ids[:stop[0]] if stop.size else ids


def text_scores(hypotheses: list[str], references: list[str], tokenize: str = "13a") -> dict:
  """Corpus BLEU (sacrebleu, `tokenize`: 13a for text, char for strings without words) and
  chrF, and the exact-match rate of the strings."""
  if len(hypotheses) != len(references) or not references:
    raise ValueError(f"need as many hypotheses as references (> 0), got {len(hypotheses)} "
                     f"and {len(references)}")
  bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize)
  return {"bleu": bleu.score,
          "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
          "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)]))}


def translate_split(exp: Any, params: Any, split: str, *, beam_size: int = 4,
                    alpha: float = 0.6, max_len: int = 0, batch_size: int = 64,
                    max_examples: int = 0) -> tuple[list[str], list[str], list[str]]:
  """(sources, references, hypotheses) of the first max_examples (0: all) of `split`."""
  cfg, tok = exp.config.data, exp.tokenizer
  keys = sources.pair_keys(cfg)
  if keys is None:
    raise ValueError(f"data.dataset={cfg.dataset!r} has no (source, target) pairs to "
                     "translate; generation metrics need a seq2seq run")
  max_len = max_len or cfg.max_target_len
  if beam_size < 1 or batch_size < 1:
    raise ValueError(f"decode.beam_size and decode.batch_size must be >= 1, got "
                     f"{beam_size}, {batch_size}")
  records = sources.get_source(cfg, split)
  n = len(records) if max_examples <= 0 else min(max_examples, len(records))
  translate = make_translate_fn(exp.model, beam_size=beam_size, alpha=alpha, max_len=max_len,
                                eos_id=tok.eos_id)
  srcs, refs, hyps = [], [], []
  with partitioning.mesh_context(exp.mesh, exp.rules):
    for start in range(0, n, batch_size):
      chunk = [records[i] for i in range(start, min(start + batch_size, n))]
      texts = [sources.record_text(r, keys[0]) for r in chunk]
      inputs = np.zeros((batch_size, cfg.seq_len), np.int32)  # fixed shape: one compile
      for row, text in enumerate(texts):
        ids = np.append(encode_array(tok, text), tok.eos_id)
        inputs[row] = seq2seq_data.fit(ids, cfg.seq_len, tok.pad_id, policy="truncate",
                                       what="source")
      tokens, _ = jax.device_get(translate(params, inputs))
      srcs += texts
      refs += [sources.record_text(r, keys[1]) for r in chunk]
      hyps += [tok.decode(until_eos(t, tok.eos_id)) for t in tokens[:len(chunk)]]
  return srcs, refs, hyps


def evaluate_generation(exp: Any, params: Any, split: str, step: int | None = None,
                        write: bool = True) -> dict:
  """BLEU/chrF/exact match of config.decode's search on `split`; writes
  `<workdir>/generate_<split>.json` and `translations_<split>.txt` (decode.num_samples
  examples: source, reference, output)."""
  d = exp.config.decode
  beam, alpha = d.beam_size, d.alpha
  srcs, refs, hyps = translate_split(
      exp, params, split, beam_size=beam, alpha=alpha, max_len=d.max_len,
      batch_size=d.batch_size, max_examples=d.max_examples)
  # Synthetic tasks (char tokenizer) are one "word" per line: 13a BLEU would be 0 even
  # for perfect output (no 2-4-grams), so their BLEU counts characters.
  tokenize = d.bleu_tokenize or (
      "char" if exp.config.data.tokenizer == "char" else "13a")
  report = {"step": step, "split": split, **text_scores(hyps, refs, tokenize),
            "examples": len(refs), "beam_size": beam, "alpha": alpha,
            "bleu_tokenize": tokenize}
  if write and jax.process_index() == 0:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", split)
    with open(os.path.join(exp.workdir, f"generate_{name}.json"), "w") as f:
      json.dump(report, f, indent=2)
    with open(os.path.join(exp.workdir, f"translations_{name}.txt"), "w") as f:
      for i in range(min(d.num_samples, len(refs))):
        f.write(f"=== {i} ===\nsource:    {srcs[i]}\nreference: {refs[i]}\n"
                f"output:    {hyps[i]}\n\n")
  report["samples"] = [{"source": s, "reference": r, "output": h}
                       for s, r, h in list(zip(srcs, refs, hyps))[:d.num_samples]]
  return report


def is_seq2seq(config: Any) -> bool:
  """Whether a run's outputs are translations to score (not span-corruption pretraining)."""
  return tasks.get(config.objective).generation_eval


def generate_workdir(workdir: str, split: str | None = None, step: int | None = None) -> dict:
  """evaluate_generation on checkpoint `step` (default latest) of a trained seq2seq run."""
  restored = restore_lib.restore_params(workdir, step)
  split = split or restored.exp.config.data.eval_split
  return evaluate_generation(restored.exp, restored.params, split, restored.step)
