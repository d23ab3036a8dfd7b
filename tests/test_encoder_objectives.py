"""Encoder objectives: MLM and ELECTRA train through the shared loop; exact RTD metrics."""
import os

import jax.numpy as jnp
import numpy as np
import pytest

from tests import tiny
from train import loop
from train import objectives


def test_discriminator_metrics_on_hand_made_logits():
  logits = jnp.array([[3.0, -2.0, 0.5, -0.1, 4.0, 9.0]])
  replaced = jnp.array([[True, False, False, True, True, False]])
  weights = jnp.array([[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])  # last position is padding
  sums = objectives.discriminator_metrics(logits, replaced, weights)
  sums.update({"loss_sum": 50.0, "weight": sums["disc/weight"], "gen/loss_sum": 4.0,
               "gen/weight": 2.0})
  out = objectives.electra_metrics(sums)
  assert out["loss"] == 10.0 and "perplexity" not in out  # generator + 50 x disc: no ppl
  assert out["gen/perplexity"] == pytest.approx(np.exp(2.0))  # the generator's MLM
  # predicted replaced: 3.0, 0.5, 4.0 -> TP 2 (3.0, 4.0), FP 1 (0.5), FN 1 (-0.1), TN 1
  assert out["disc/accuracy"] == pytest.approx(3 / 5)
  assert out["disc/precision"] == pytest.approx(2 / 3)
  assert out["disc/recall"] == pytest.approx(2 / 3)
  assert out["disc/replaced_rate"] == pytest.approx(3 / 5)
  # AUC: positives score {3.0, -0.1, 4.0}, negatives {-2.0, 0.5}: 5 of 6 pairs ordered
  assert out["disc/auc"] == pytest.approx(5 / 6)
  bce = [np.log1p(np.exp(-3.0)), np.log1p(np.exp(-2.0)), np.log1p(np.exp(0.5)),
         np.log1p(np.exp(0.1)), np.log1p(np.exp(-4.0))]
  assert out["disc/loss"] == pytest.approx(np.mean(bce), rel=1e-5)


def test_binned_auc_counts_ties_half():
  pos, neg = np.array([0, 2, 1]), np.array([1, 1, 0])
  # pairs (pos bin > neg bin) = 2*1 + 1*2 = 4, ties (same bin) = 2*1 -> 4 + 0.5*2 = 5 of 6
  assert objectives.binned_auc(pos, neg) == pytest.approx(5 / 6)
  assert np.isnan(objectives.binned_auc(pos, np.zeros(3)))


def encoder_tiny(corpus_path, data_dir, objective, steps):
  c = tiny.tiny_config(corpus_path, data_dir, steps=steps, learning_rate=1e-2,
                       eval_every=10_000, checkpoint_every=10_000, log_every=5)
  c.objective = objective
  c.model.family = "electra" if objective == "electra" else "bert"
  c.model.position = "rope"  # learns local context fastest at this size
  c.model.use_bias = True
  c.data.mask_token = True
  c.data.batch_size = 16
  return c


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
  """One sentence repeated: bidirectional context pins down every character."""
  d = tmp_path_factory.mktemp("memorised")
  text = "the quick brown fox jumps over the lazy dog. " * 200
  return tiny.write_corpus(str(d), text), str(d / "tfds")


def memorising(corpus, objective, steps=400):
  c = encoder_tiny(*corpus, objective, steps=steps)
  c.model.norm_placement = "pre"  # learns this faster than BERT's post-norm at lr 1e-2
  return c


def test_mlm_memorises_a_text_above_90_percent(memorised, tmp_path):
  """400 steps, measured with XLA:CPU capped at SSE4.2, AVX2 and AVX-512 (the code differs
  per ISA): held-out masked accuracy 0.972 under all three (137 of 141; the same 0.972 at
  500 steps: a plateau), eval loss 0.134, train loss 3.40 -> 0.14. At 250 steps it sat at
  the threshold (0.915, 129 of 141, under all three)."""
  report = loop.train_and_evaluate(memorising(memorised, "mlm"), str(tmp_path))
  losses = [r["loss"] for r in tiny.metrics_rows(str(tmp_path))]
  assert losses[0] > 3.0  # ~ln(vocab) at init
  assert np.mean(losses[-3:]) < losses[0] - 2.0, losses
  assert report["accuracy"] > 0.9, report  # masked characters of the held-out tail


def test_electra_discriminator_beats_the_all_original_baseline(memorised, tmp_path):
  """Generator and discriminator train in one step; the discriminator learns to spot
  the generator's replacements. At 400 steps, measured with XLA:CPU capped at SSE4.2, AVX2
  and AVX-512 (the code differs per ISA): accuracy 0.959-0.969 vs the baseline's 0.853-0.855,
  AUC 0.970-0.981. At 250 steps it sat at the threshold (0.892-0.912 accuracy)."""
  report = loop.train_and_evaluate(memorising(memorised, "electra", steps=400),
                                   str(tmp_path))
  train = tiny.metrics_rows(str(tmp_path))
  assert train[-1]["loss"] < train[0]["loss"] - 10.0  # lambda=50 x disc loss dominates
  assert train[-1]["gen/loss"] < train[0]["gen/loss"]
  baseline = 1.0 - report["disc/replaced_rate"]  # call every token original
  assert 0.1 < report["disc/replaced_rate"] < 0.2, report  # ~15% masked, most replaced
  assert report["disc/accuracy"] > baseline + 0.05, report
  assert report["disc/auc"] > 0.9, report
  for key in ("gen/accuracy", "disc/precision", "disc/recall"):
    assert 0.0 <= report[key] <= 1.0, (key, report)


@pytest.mark.parametrize("objective", ["mlm_nsp", "sop"])
def test_pair_objectives_loss_falls(corpus, tmp_path, objective):
  """MLM + NSP/SOP through the loop; two files so NSP has another document in each split.
  The loss sits on a noisy plateau (~3.4-3.6) for the first ~100 steps, so train 200: the
  mean of the last 3 logged losses is 1.20 (mlm_nsp) / 1.18 (sop) below the first (4.05 ->
  2.85 / 4.03 -> 2.86), measured with XLA:CPU capped at SSE4.2, AVX2 and AVX-512 alike. At
  60 steps it fell 0.64 / 0.59, within 0.14 / 0.09 of the 0.5 threshold."""
  path, data_dir = corpus
  second = os.path.join(os.path.dirname(path), "second.txt")
  with open(second, "w", encoding="utf-8") as f:
    f.write(tiny.CORPUS.upper())
  c = encoder_tiny(f"{path},{second}", data_dir, objective, steps=200)
  report = loop.train_and_evaluate(c, str(tmp_path))
  train = tiny.metrics_rows(str(tmp_path))
  assert np.mean([r["loss"] for r in train[-3:]]) < train[0]["loss"] - 0.5, train
  assert 0.0 <= report["pair/accuracy"] <= 1.0
  assert {"loss", "accuracy", "pair/loss", "pair/accuracy"} <= set(report), report


def test_objective_and_family_must_match(corpus, tmp_path):
  c = encoder_tiny(*corpus, "mlm", steps=10)
  c.model.family = "gpt"
  with pytest.raises(ValueError, match="trains model.family bert"):
    loop.train_and_evaluate(c, str(tmp_path / "a"))
  c = encoder_tiny(*corpus, "mlm", steps=10)
  c.data.mask_token = False
  with pytest.raises(ValueError, match=r"\[MASK\]"):
    loop.train_and_evaluate(c, str(tmp_path / "b"))
  c = encoder_tiny(*corpus, "electra", steps=10)
  c.train.electra_disc_weight = 0.0
  with pytest.raises(ValueError, match="electra_disc_weight must be positive"):
    loop.train_and_evaluate(c, str(tmp_path / "c"))
