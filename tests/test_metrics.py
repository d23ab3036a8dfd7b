"""eval/metrics.py against hand-computed values, scikit-learn and seqeval."""
import numpy as np
import pytest

from eval import metrics

# 3 classes; class 2 occurs twice but is never predicted.
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 0]
Y_PRED = [0, 0, 1, 1, 0, 1, 0, 0]


def test_confusion_and_scores_by_hand():
  c = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
  np.testing.assert_array_equal(c, [[3, 1, 0], [1, 1, 0], [1, 1, 0]])
  s = metrics.classification_scores(c, ["a", "b", "c"])
  assert s["accuracy"] == pytest.approx(4 / 8)
  # a: P 3/5, R 3/4; b: P 1/3, R 1/2; c: never predicted -> P 0 (no NaN), R 0, F1 0.
  f1_a, f1_b = 2 * 0.6 * 0.75 / 1.35, 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)
  pc = s["per_class"]
  assert pc["a"] == pytest.approx({"precision": 0.6, "recall": 0.75, "f1": f1_a,
                                   "support": 4})
  assert pc["b"] == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": f1_b,
                                   "support": 2})
  assert pc["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2.0}
  assert s["macro_f1"] == pytest.approx((f1_a + f1_b + 0.0) / 3)
  assert s["weighted_f1"] == pytest.approx((4 * f1_a + 2 * f1_b) / 8)
  assert s["micro_f1"] == pytest.approx(0.5)  # single-label: micro = accuracy
  assert s["macro_precision"] == pytest.approx((0.6 + 1 / 3) / 3)


def test_empty_confusion_gives_zeros_not_nan():
  s = metrics.classification_scores(np.zeros((2, 2)))
  assert s["accuracy"] == 0.0 and s["macro_f1"] == 0.0 and s["micro_f1"] == 0.0


def test_matches_scikit_learn():
  sklearn_metrics = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(0)
  y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 3, 200)  # class 3 never predicted
  s = metrics.classification_scores(metrics.confusion_matrix(y_true, y_pred, 4))
  np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, 4),
                                sklearn_metrics.confusion_matrix(y_true, y_pred,
                                                                 labels=range(4)))
  for avg in ("macro", "micro", "weighted"):
    p, r, f, _ = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=range(4), average=avg, zero_division=0)
    assert (s[f"{avg}_precision"], s[f"{avg}_recall"], s[f"{avg}_f1"]) == pytest.approx(
        (p, r, f))
  assert s["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred))


def test_bio_spans_follow_conlleval():
  tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-ORG", "B-PER"]
  # I- after O (or after another type) opens a chunk; B- always opens one.
  assert metrics.bio_spans(tags) == {("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6),
                                     ("ORG", 6, 7), ("PER", 7, 8)}


def test_entity_f1_exact_spans_by_hand():
  gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
  pred = [["B-PER", "I-PER", "O", "B-ORG"],  # PER exact; LOC typed wrong
          ["B-ORG", "I-ORG", "O", "O"]]      # partial overlap: an error both ways
  s = metrics.entity_scores(gold, pred)
  # correct 1 (PER); predicted 3; gold 3.
  assert s["entity_precision"] == pytest.approx(1 / 3)
  assert s["entity_recall"] == pytest.approx(1 / 3)
  assert s["entity_f1"] == pytest.approx(1 / 3)
  assert s["per_type"]["LOC"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                                "support": 1, "predicted": 0})
  assert s["per_type"]["PER"]["f1"] == 1.0


def test_entity_f1_matches_seqeval():
  seqeval_metrics = pytest.importorskip("seqeval.metrics")
  rng = np.random.default_rng(1)
  tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
  gold = [list(rng.choice(tags, size=int(rng.integers(1, 12)))) for _ in range(200)]
  pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in g] for g in gold]
  s = metrics.entity_scores(gold, pred)
  assert s["entity_f1"] == pytest.approx(seqeval_metrics.f1_score(gold, pred))
  assert s["entity_precision"] == pytest.approx(seqeval_metrics.precision_score(gold, pred))
  assert s["entity_recall"] == pytest.approx(seqeval_metrics.recall_score(gold, pred))


def test_report_files(tmp_path):
  c = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
  report = metrics.classification_scores(c, ["a", "b", "c"])
  md = metrics.report_markdown(report)
  assert "| c | 0.0000 | 0.0000 | 0.0000 | 2 |" in md
  path = metrics.plot_confusion(c, ["a", "b", "c"], str(tmp_path / "cm.png"))
  assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
