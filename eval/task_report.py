"""Reports of fine-tuned classifiers: scalars for logs, and the full per-class report.

Everything is computed on host from what evaluation accumulated: the summed confusion
matrix (classification and per-tag) and, for token classification, the concatenated
per-word predictions (entity-level F1, conlleval semantics; eval/metrics.py).
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any

import ml_collections
import numpy as np

from data import finetune
from eval import metrics as metrics_lib
from train import task_objectives
from train import tasks


@functools.lru_cache(maxsize=8)
def _names(data_json: str, task_json: str) -> tuple[str, ...]:
  return tuple(finetune.label_names(ml_collections.ConfigDict(json.loads(data_json)),
                                    ml_collections.ConfigDict(json.loads(task_json))))


def label_names(config: Any) -> list[str]:
  """Class names by id (cached: CoNLL names come from reading the train file)."""
  return list(_names(config.data.to_json(), config.task.to_json()))


def sequence_summary(config: Any, collected: dict) -> dict:
  """Entity-level scalars from concatenated token predictions (empty for classification)."""
  if f"{task_objectives.PRED_PREFIX}tags" not in collected:
    return {}
  gold, pred, cut = task_objectives.word_tags(collected, label_names(config))
  scores = metrics_lib.entity_scores(gold, pred)
  return {k: scores[k] for k in ("entity_precision", "entity_recall", "entity_f1")} | {
      "words_cut": float(cut)}


def full_report(config: Any, totals: dict, collected: dict, scalars: dict) -> dict:
  """scalars + per-class scores, the confusion matrix and (NER) per-entity-type scores."""
  names = label_names(config)
  confusion = np.asarray(totals["confusion_count"])
  scores = metrics_lib.classification_scores(confusion, names)
  report = {**scalars, **{k: v for k, v in scores.items() if k not in scalars},
            "label_names": names, "confusion": confusion.tolist(),
            "level": tasks.get(config.objective).class_report}
  if f"{task_objectives.PRED_PREFIX}tags" in collected:
    gold, pred, _ = task_objectives.word_tags(collected, names)
    report["per_type"] = metrics_lib.entity_scores(gold, pred)["per_type"]
  return report


def write(report: dict, workdir: str) -> dict[str, str]:
  """report.json, report.md (summary + per-class table) and confusion_matrix.png."""
  paths = {"json": os.path.join(workdir, "report.json"),
           "markdown": os.path.join(workdir, "report.md"),
           "confusion": os.path.join(workdir, "confusion_matrix.png")}
  metrics_lib.write_json(report, paths["json"])
  with open(paths["markdown"], "w") as f:
    f.write(f"# {os.path.basename(workdir)}: step {report.get('step')}, "
            f"split {report.get('split')}\n\n" + metrics_lib.report_markdown(report))
  metrics_lib.plot_confusion(np.asarray(report["confusion"]), report["label_names"],
                             paths["confusion"],
                             title=f"{report.get('split')} ({report['level']})")
  return paths
