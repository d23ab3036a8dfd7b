"""Loss / perplexity / accuracy of params on a split, summed over batches then averaged."""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import re
from typing import Any, Callable, Optional

import jax
import ml_collections
import numpy as np

from data import sources
from eval import metrics as metrics_lib
from eval import restore as restore_lib
from eval import task_report
from model import rnn
from train import partitioning
from train import step as step_lib
from train import task_objectives


def accumulate(exp: Any, params: Any, eval_fn: Callable, max_batches: int = 0,
               split: Optional[str] = None, frozen: Any = None) -> tuple[dict, dict]:
  """One deterministic pass over `split` (default: config.data.eval_split); frozen: the
  state's Task.make_frozen trees (None for tasks without them).

  Returns the summed metrics and the per-example outputs (`pred/` keys, fine-tuning
  heads) concatenated over batches. max_batches > 0 stops early (the same first batches
  every time, so periodic evals are comparable); 0 reads the whole split. It runs under
  the experiment's mesh and axis rules whoever calls it, so the mid-run evaluations (inside
  the training loop's mesh context) and the final one share one compiled eval step.
  """
  with partitioning.mesh_context(exp.mesh, exp.rules):
    return _accumulate(exp, params, eval_fn, max_batches, split, frozen)


def _accumulate(exp: Any, params: Any, eval_fn: Callable, max_batches: int,
                split: Optional[str], frozen: Any) -> tuple[dict, dict]:
  config = exp.config
  split = split or config.data.eval_split
  ds = exp.task.make_dataset(
      config.data, exp.tokenizer, split, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count(), train=False,
      task_cfg=config.task)
  batches = iter(ds)
  first = next(batches, None)
  if first is not None:  # where data meets the loss: the task's batch keys, once
    exp.task.check_batch(first)
    batches = itertools.chain([first], batches)
  if max_batches > 0:
    batches = itertools.islice(batches, max_batches)
  batches = partitioning.aligned_batches(batches)
  totals, collected = {"weight": 0.0}, {}
  carry = None  # data.contiguous: the LSTM state carried from batch to batch
  if config.data.contiguous:
    carry = rnn.zero_carry(exp.model_config, config.data.batch_size)
  for batch in batches:
    batch = partitioning.global_batch(batch, exp.mesh)
    if carry is not None:  # rows shard like the batch's
      batch["carry"] = jax.device_put(carry, partitioning.batch_sharding(exp.mesh))
    sums = eval_fn(params, batch, frozen)
    carry = sums.pop("carry", None)
    sums = jax.device_get(sums)
    for k, v in sums.items():
      if k.startswith(task_objectives.PRED_PREFIX):
        collected.setdefault(k, []).append(np.asarray(v))
      else:
        totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
  if totals["weight"] == 0:
    raise ValueError(f"split {split!r} of data.dataset={config.data.dataset!r} gave no "
                     "tokens to evaluate; is it empty or shorter than one sequence?")
  return totals, {k: np.concatenate(v) for k, v in collected.items()}


def text_metrics(cfg: Any, split: str, loss_sum: float) -> dict:
  """Scores that do not depend on the tokenizer, for a loss summed (in nats) over every
  token of `split`'s text: bits per byte (UTF-8) and per character, and per-word
  perplexity, words being whitespace words plus one <eos> per line (the convention of the
  PTB papers). cfg is config.data. Tokens the pipeline adds (data.add_eos) are scored too.
  """
  chars, utf8_bytes, words = _text_counts(cfg.to_json_best_effort(sort_keys=True), split)
  bits = float(loss_sum) / math.log(2)
  return {"bits_per_byte": bits / max(utf8_bytes, 1), "bits_per_char": bits / max(chars, 1),
          "word_perplexity": math.exp(min(float(loss_sum) / max(words, 1), 80.0)),
          "words": float(words)}


@functools.lru_cache(maxsize=8)
def _text_counts(data_config_json: str, split: str) -> tuple[int, int, int]:
  """(characters, UTF-8 bytes, words) of a split's text, read once per data config: a run
  evaluating the whole split every epoch does not re-read it."""
  cfg = ml_collections.ConfigDict(json.loads(data_config_json))
  chars = utf8_bytes = words = 0
  for text in sources.iter_texts(cfg, split):
    chars += len(text)
    utf8_bytes += len(text.encode("utf-8"))
    words += len(text.split()) + text.count("\n")
  return chars, utf8_bytes, words


def summarize(exp: Any, totals: dict, collected: dict, split: Optional[str] = None) -> dict:
  """The scalar metrics of an accumulated pass (entity-level F1 for token tagging).

  Given the `split` of a whole-split pass, tasks that score every token also report
  text_metrics.
  """
  out = {**exp.task.summarize(totals), **task_report.sequence_summary(exp.config, collected)}
  if split is not None and exp.task.scores_every_token:
    out.update(text_metrics(exp.config.data, split, totals["loss_sum"]))
  return out


def evaluate(exp: Any, params: Any, eval_fn: Callable, max_batches: int = 0,
             split: Optional[str] = None, frozen: Any = None) -> dict:
  """Scalar metrics of one pass over `split` (see accumulate)."""
  split = split or exp.config.data.eval_split
  totals, collected = accumulate(exp, params, eval_fn, max_batches, split, frozen)
  return summarize(exp, totals, collected, split if max_batches == 0 else None)


def on_files(exp: Any, files: str) -> Any:
  """`exp` reading `files` (comma-separated paths/globs) as text_files' test split; the
  run's own config and workdir stay as they are."""
  if not exp.task.scores_every_token:
    raise ValueError(f"--files scores a language model on plain text; objective="
                     f"{exp.config.objective!r} reads its own kind of data, so evaluate "
                     "its splits with --split instead")
  config = exp.config.copy_and_resolve_references()
  config.data.update(dataset="text_files", files="", train_files="", validation_files="",
                     test_files=files)
  return dataclasses.replace(exp, config=config)


def evaluate_workdir(workdir: str, split: Optional[str] = None, step: Optional[int] = None,
                     max_batches: int = 0, best: bool = False,
                     files: Optional[str] = None) -> dict:
  """Evaluate a trained run's checkpoint and write `<workdir>/eval_<split>.json`.

  With the defaults (eval split, latest step, whole split) this recomputes the run's
  `final_eval` row, so a workdir can be rescored on any split after training. `files`
  scores other text instead (on_files), written to `eval_files.json`.
  """
  restored = restore_lib.restore_params(workdir, step, best)  # best: train.best_metric's
  exp = restored.exp
  if files:
    if split:
      raise ValueError(f"--files and --split={split} both given; --files evaluates the "
                       "files alone")
    exp, split = on_files(exp, files), "test"
  split = split or exp.config.data.eval_split
  _, eval_fn = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                      cpu_scheduler=exp.config.train.xla_cpu_scheduler)
  totals, collected = accumulate(exp, restored.params, eval_fn, max_batches, split,
                                 restored.frozen)
  metrics = summarize(exp, totals, collected, split if max_batches == 0 else None)
  report = {"step": restored.step, "split": split, **metrics, "max_batches": max_batches}
  if files:
    report["files"] = files
  if jax.process_index() == 0:
    name = "files" if files else re.sub(r"[^A-Za-z0-9_.-]+", "_", split)  # "train[:10%]"
    with open(os.path.join(exp.workdir, f"eval_{name}.json"), "w") as f:
      json.dump(report, f, indent=2)
    if exp.task.class_report:  # per-class report + heatmap
      full = task_report.full_report(exp.config, totals, collected, report)
      report["files"] = task_report.write(full, exp.workdir)
      report["table"] = metrics_lib.report_markdown(full)
  return report
