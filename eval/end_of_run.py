"""What a training run reports at its end beyond the final evaluation, as its task declares.

A Task (train/tasks/base.py) says which reports its outputs support: `generation_eval`
(decode the eval split: BLEU, chrF, exact match) and `lm_samples` (samples.txt and decode
tokens/s). The reports need train/ (the experiment) and eval/ (decoding), so they live here,
and train/loop.py asks this module instead of branching on the task itself:

  check_config(config)                    before any work (sample.* values)
  final_metrics(exp, params, split, step) joins the final_eval row (and model selection)
  report_metrics(exp, params)             joins final.json only
  write_outputs(exp, params, workdir)     files written after final.json
"""
from __future__ import annotations

import os
from typing import Any

import jax
import ml_collections

from eval import decode_speed
from eval import sampling
from eval import seq2seq as seq2seq_eval
from train import partitioning

GENERATION_METRICS = ("bleu", "chrf", "exact_match")


def check_config(config: ml_collections.ConfigDict) -> None:
  """sample.* (end-of-run samples) checked before any work, not after training."""
  s = config.sample
  sampling.check_settings(sampling.Settings(s.temperature, s.top_k, s.top_p), "sample.")
  if s.num_samples < 0 or (s.num_samples and s.max_new_tokens < 1):
    raise ValueError(f"sample.num_samples={s.num_samples} must be >= 0 (0: no samples) "
                     f"and sample.max_new_tokens={s.max_new_tokens} >= 1 when it is not")


def final_metrics(exp: Any, params: Any, split: str, step: int) -> dict:
  """The task's metrics added to the final evaluation (generate/bleu|chrf|exact_match)."""
  if not exp.task.generation_eval:
    return {}
  gen = seq2seq_eval.evaluate_generation(exp, params, split, step)
  return {f"generate/{k}": gen[k] for k in GENERATION_METRICS}


def report_metrics(exp: Any, params: Any) -> dict:
  """Values for final.json alone: decode tokens/s of an LM when sample.decode_speed_tokens."""
  if exp.config.sample.decode_speed_tokens > 0 and exp.task.lm_samples:
    return {"decode_tokens_per_sec": measure_decode_speed(exp, params)}
  return {}


def write_outputs(exp: Any, params: Any, workdir: str) -> None:
  """samples.txt of an LM (sample.num_samples > 0)."""
  if exp.config.sample.num_samples > 0 and exp.task.lm_samples:
    write_samples(exp, params, os.path.join(workdir, "samples.txt"))


def write_samples(exp: Any, params: Any, path: str) -> list[str]:
  """Generate config.sample.num_samples continuations and write them to `path`."""
  s = exp.config.sample
  outs = sampling.generate_text(
      exp, params, s.prompt, max_new_tokens=s.max_new_tokens, num_samples=s.num_samples,
      seed=exp.config.seed, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p)
  texts = [s.prompt + o for o in outs]
  if jax.process_index() == 0:
    with open(path, "w") as f:
      for i, text in enumerate(texts):
        f.write(f"=== sample {i} (temperature={s.temperature}, top_k={s.top_k}, "
                f"top_p={s.top_p}) ===\n{text}\n\n")
  return texts


def measure_decode_speed(exp: Any, params: Any) -> float:
  """Greedy KV-cache decode tokens/s of the trained model (config.sample.decode_speed_*)."""
  s, max_len = exp.config.sample, exp.model_config.max_len
  prompt_len = max(1, min(16, max_len // 4))
  with partitioning.mesh_context(exp.mesh, exp.rules):
    speed, _ = decode_speed.decode_tokens_per_sec(
        exp.model, params, batch=s.decode_speed_batch, prompt_len=prompt_len,
        new_tokens=min(s.decode_speed_tokens, max_len - prompt_len), max_len=max_len,
        vocab_size=exp.model_config.vocab_size, seed=exp.config.seed)
  return speed
