"""Classification and NER metrics on host from accumulated predictions (numpy only).

Conventions (those of scikit-learn's `zero_division=0` and conlleval):
- confusion[i, j] counts examples of true class i predicted as j;
- a class never predicted has precision 0.0, a class absent from the labels has recall
  0.0, and F1 is 0.0 whenever precision + recall is 0 (no division by zero, no NaN);
- macro averages every class equally (absent ones included, as sklearn does when given
  `labels=`), weighted averages by support, micro pools the counts (for single-label
  classification micro P = R = F1 = accuracy);
- NER scores entities, not tokens: a predicted span counts only if its type, start and end
  all equal a gold span's (a partial overlap is one false positive and one false negative).
  Spans are read from BIO tags as conlleval does: an I-X that does not continue an X
  chunk starts a new one.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Optional

import numpy as np

Span = tuple[str, int, int]  # (type, start, end exclusive)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int,
                     weights: Optional[Sequence[float]] = None) -> np.ndarray:
  """[C, C] counts, rows the true class and columns the predicted one."""
  y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
  w = np.ones(len(y_true)) if weights is None else np.asarray(weights, np.float64)
  out = np.zeros((num_classes, num_classes), np.float64)
  np.add.at(out, (y_true, y_pred), w)
  return out


def _prf(tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray):
  precision = np.divide(tp, predicted, out=np.zeros_like(tp, dtype=np.float64),
                        where=predicted > 0)
  recall = np.divide(tp, actual, out=np.zeros_like(tp, dtype=np.float64), where=actual > 0)
  denom = precision + recall
  f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
  return precision, recall, f1


def classification_scores(confusion: np.ndarray,
                          label_names: Optional[Sequence[str]] = None) -> dict:
  """Accuracy, per-class P/R/F1/support and macro/micro/weighted averages of a confusion."""
  confusion = np.asarray(confusion, np.float64)
  names = list(label_names) if label_names else [str(i) for i in range(len(confusion))]
  tp = np.diag(confusion)
  support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
  precision, recall, f1 = _prf(tp, predicted, support)
  total = confusion.sum()
  micro_p, micro_r, micro_f1 = (float(x) for x in _prf(
      np.array(tp.sum()), np.array(predicted.sum()), np.array(support.sum())))
  weights = support / total if total > 0 else np.zeros_like(support)
  return {
      "accuracy": float(tp.sum() / total) if total > 0 else 0.0,
      "macro_precision": float(precision.mean()), "macro_recall": float(recall.mean()),
      "macro_f1": float(f1.mean()),
      "micro_precision": micro_p, "micro_recall": micro_r, "micro_f1": micro_f1,
      "weighted_precision": float(precision @ weights),
      "weighted_recall": float(recall @ weights), "weighted_f1": float(f1 @ weights),
      "examples": float(total),
      "per_class": {n: {"precision": float(p), "recall": float(r), "f1": float(f),
                        "support": float(s)}
                    for n, p, r, f, s in zip(names, precision, recall, f1, support)},
  }


def bio_spans(tags: Sequence[str]) -> set[Span]:
  """Entity spans of one BIO-tagged sentence, with conlleval's chunk boundaries."""
  spans, start, kind = set(), None, None
  for i, tag in enumerate(list(tags) + ["O"]):
    prefix, _, t = tag.partition("-")
    begins = prefix == "B" or (prefix == "I" and t != kind)
    if start is not None and (prefix == "O" or begins):
      spans.add((kind, start, i))
      start, kind = None, None
    if begins:
      start, kind = i, t
  return spans


def entity_scores(true_tags: Sequence[Sequence[str]],
                  pred_tags: Sequence[Sequence[str]]) -> dict:
  """Entity-level (exact span) precision/recall/F1, overall and per entity type."""
  if len(true_tags) != len(pred_tags):
    raise ValueError(f"{len(true_tags)} gold sentences but {len(pred_tags)} predicted")
  counts: dict[str, np.ndarray] = {}  # type -> [correct, predicted, gold]
  for n, (gold, pred) in enumerate(zip(true_tags, pred_tags)):
    if len(gold) != len(pred):
      raise ValueError(f"sentence {n}: {len(gold)} gold tags but {len(pred)} predicted")
    g, p = bio_spans(gold), bio_spans(pred)
    for kind in {s[0] for s in g | p}:
      c = counts.setdefault(kind, np.zeros(3))
      c += [len({s for s in g & p if s[0] == kind}), sum(s[0] == kind for s in p),
            sum(s[0] == kind for s in g)]
  total = sum(counts.values(), np.zeros(3))
  def scores(c):
    precision, recall, f1 = (float(x) for x in _prf(np.array(c[0]), np.array(c[1]),
                                                      np.array(c[2])))
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(c[2]),
            "predicted": float(c[1])}
  overall = scores(total)
  return {"entity_precision": overall["precision"], "entity_recall": overall["recall"],
          "entity_f1": overall["f1"], "entities": overall["support"],
          "per_type": {k: scores(counts[k]) for k in sorted(counts)}}


def markdown_table(rows: dict[str, dict], columns: Sequence[str] = (
    "precision", "recall", "f1", "support")) -> str:
  """A markdown table with one row per class (or entity type) and 4-decimal scores."""
  lines = ["| class | " + " | ".join(columns) + " |",
           "|---|" + "---:|" * len(columns)]
  for name, r in rows.items():
    cells = [f"{r[c]:.0f}" if c in ("support", "predicted") else f"{r[c]:.4f}"
             for c in columns]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def report_markdown(report: dict) -> str:
  """The summary scores and per-class (and per-entity-type) tables of a report."""
  head = [k for k in ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "entity_f1",
                      "entity_precision", "entity_recall", "loss") if k in report]
  out = ["| metric | value |", "|---|---:|"]
  out += [f"| {k} | {report[k]:.4f} |" for k in head]
  out += ["", markdown_table(report["per_class"])]
  if "per_type" in report:
    out += ["", markdown_table(report["per_type"], ("precision", "recall", "f1", "support",
                                                    "predicted"))]
  return "\n".join(out) + "\n"


def plot_confusion(confusion: np.ndarray, label_names: Sequence[str], path: str,
                   title: str = "") -> str:
  """Row-normalised heatmap with the raw counts written in each cell; returns path."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  confusion = np.asarray(confusion, np.float64)
  rows = confusion.sum(axis=1, keepdims=True)
  share = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
  n = len(label_names)
  fig, ax = plt.subplots(figsize=(3.0 + 0.6 * n, 2.5 + 0.55 * n))
  image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
  ax.set_xticks(range(n), label_names, rotation=45, ha="right")
  ax.set_yticks(range(n), label_names)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  for i in range(n):
    for j in range(n):
      ax.text(j, i, f"{confusion[i, j]:.0f}", ha="center", va="center", fontsize=8,
              color="white" if share[i, j] > 0.5 else "black")
  fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
  if title:
    ax.set_title(title)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def write_json(report: dict, path: str) -> None:
  with open(path, "w") as f:
    json.dump(report, f, indent=2)
