"""A Hugging Face checkpoint as an ordinary attnlab workdir, and a workdir back to HF files.

import_to_workdir writes config.json, tokenizer/ and checkpoints/ (step 0, state + config,
no data position), so eval.generate, eval.main, `train.main --workdir=W` (continues
training) and `init_from=W` (fine-tuning) read it like any run. export_workdir writes
config.json + model.safetensors (+ the tokenizer files of a converted run) that
transformers loads. The mapping itself is model/hf.py.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import jax
import numpy as np
from absl import logging

from data import hf_tokenizer
from model import hf


def import_config(converted: hf.Converted, overrides: Optional[dict] = None):
  """base.py's config (T5: encoder_decoder_base.py's) with the converted model, the hf
  tokenizer and a fitting objective."""
  from experiments.configs import base
  from experiments.configs import encoder_decoder_base
  config = (encoder_decoder_base if converted.family == "t5" else base).get_config()
  config.model.update(converted.model_overrides)
  config.data.tokenizer = "hf"
  config.data.seq_len = min(config.data.seq_len, config.model.max_len)
  heads = converted.model_overrides.get("encoder_heads", "")
  config.objective = {"gpt2": "causal_lm", "t5": "seq2seq"}.get(
      converted.family, "mlm_nsp" if "pair" in heads else "mlm")
  if overrides:
    config.update_from_flattened_dict(overrides)
  return config


def import_to_workdir(hf_dir: str, workdir: str, family: Optional[str] = None,
                      overrides: Optional[dict] = None) -> Any:
  """Convert the HF model in hf_dir into a new attnlab workdir; returns its Experiment.

  overrides: flattened config keys (e.g. {"data.dataset": "text_files"}) for the run the
  workdir describes; the model keys come from the checkpoint.
  """
  from train import checkpoint as checkpoint_lib
  from train import experiment as experiment_lib
  from train import state as state_lib

  workdir = os.path.abspath(workdir)
  if os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise ValueError(f"{workdir} already holds checkpoints; convert into a new --workdir")
  converted = hf.read_hf(hf_dir, family)
  if converted.dropped:
    logging.warning("%s: not used by %s, dropped: %s", hf_dir, converted.architecture,
                    ", ".join(converted.dropped))
  tokenizer = hf_tokenizer.HFTokenizer(hf_dir, model_config=hf.read_config(hf_dir))
  if tokenizer.vocab_size > converted.model_overrides["vocab_size"]:
    raise ValueError(f"{hf_dir}: the tokenizer has {tokenizer.vocab_size} ids but the model "
                     f"only {converted.model_overrides['vocab_size']} embeddings")
  config = import_config(converted, overrides)
  exp = experiment_lib.build(config, workdir, tokenizer=tokenizer)
  tokenizer.save(os.path.join(workdir, "tokenizer"))
  hf.check_shapes(converted.params, exp.abstract_state.params, hf_dir)
  state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                       exp.mesh, exp.shardings)
  params = jax.device_put(converted.params, exp.shardings.params)
  state = state.replace(params=params, opt_state=exp.tx.init(params))
  state = jax.device_put(state, exp.shardings)
  ckpt = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"), async_save=False)
  try:
    ckpt.save(0, state, None, exp.config.to_dict(), force=True)
  finally:
    ckpt.close()
  experiment_lib.save_config(exp.config, workdir)
  return exp


def export_workdir(workdir: str, out: str, step: Optional[int] = None,
                   family: Optional[str] = None) -> tuple[dict, dict]:
  """Write the run's checkpoint `step` (default latest) as HF files in `out`.

  Returns (config, tensors) as written. A converted run's tokenizer files go along; attnlab's
  own tokenizers (byte, char, sentencepiece) have no HF form and are not written.
  """
  from eval import restore as restore_lib
  restored = restore_lib.restore_params(workdir, step)
  params = jax.tree.map(np.asarray, jax.device_get(restored.params))
  config, tensors = hf.to_hf(restored.exp.config.model, params, family)
  tokenizer = getattr(restored.exp.tokenizer, "inner", restored.exp.tokenizer)
  for role in ("bos", "eos", "pad"):  # generate() stops at the run's own EOS id
    config.setdefault(f"{role}_token_id", getattr(tokenizer, f"{role}_id"))
  hf.write_hf(out, config, tensors)
  if isinstance(tokenizer, hf_tokenizer.HFTokenizer):
    tokenizer.save_hf(out)
  return config, tensors
