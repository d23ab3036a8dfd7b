"""NSP/SOP pairs: balanced labels, IsNext really consecutive, SOP negatives are swaps."""
import numpy as np
import pytest

import data
from data import pairs
from experiments.configs import base

DOCS = [np.arange(1000 * d, 1000 * d + n) for d, n in enumerate((300, 40, 7, 120, 2))]


def draw(task, count=2000, budget=29):
  rng = np.random.default_rng(0)
  out = []
  for i in range(count):
    doc_id = i % len(DOCS)
    other = lambda: DOCS[(doc_id + 1 + int(rng.integers(0, len(DOCS) - 1))) % len(DOCS)]
    out.append((doc_id, *pairs.make_pair(DOCS[doc_id], other, task=task, budget=budget,
                                         rng=rng)))
  return out


def contiguous(seq):
  return len(seq) > 0 and all(y == x + 1 for x, y in zip(seq, seq[1:]))


@pytest.mark.parametrize("task", ["nsp", "sop"])
def test_labels_are_balanced_and_pairs_fit(task):
  drawn = draw(task)
  labels = np.array([label for _, _, _, label in drawn])
  assert abs(labels.mean() - 0.5) < 0.04  # 2000 draws: 3 sigma is 0.034
  assert all(0 < len(a) and 0 < len(b) and len(a) + len(b) <= 29 for _, a, b, _ in drawn)


def test_nsp_positives_are_consecutive_and_negatives_come_from_another_document():
  for doc_id, a, b, label in draw("nsp"):
    assert all(x // 1000 == doc_id for x in a) and contiguous(a)
    if label == 0:
      assert contiguous(a + b)  # B starts right where A ends
    else:
      assert all(x // 1000 != doc_id for x in b) and contiguous(b)


def test_sop_negatives_are_the_two_segments_swapped():
  for doc_id, a, b, label in draw("sop"):
    assert all(x // 1000 == doc_id for x in a + b)
    assert contiguous(b + a) if label else contiguous(a + b)


def test_truncation_cuts_the_longer_side_first():
  a, b = list(range(20)), list(range(100, 105))
  pairs.truncate_pair(a, b, 15, np.random.default_rng(0))
  assert (len(a), len(b)) == (10, 5) and contiguous(a)
  a, b = list(range(8)), list(range(100, 108))
  pairs.truncate_pair(a, b, 10, np.random.default_rng(0))
  assert (len(a), len(b)) == (5, 5)


def test_pack_pair_layout():
  out = pairs.pack_pair([7, 8], [9], 1, seq_len=8, cls_id=2, sep_id=1, pad_id=0)
  np.testing.assert_array_equal(out["inputs"], [2, 7, 8, 1, 9, 1, 0, 0])
  np.testing.assert_array_equal(out["token_types"], [0, 0, 0, 0, 1, 1, 0, 0])
  np.testing.assert_array_equal(out["segment_ids"], [1, 1, 1, 1, 1, 1, 0, 0])
  assert out["pair_label"].tolist() == [1] and out["pair_weight"].tolist() == [1.0]


def test_too_short_inputs_raise_or_are_excluded():
  with pytest.raises(ValueError, match="too short for a sentence pair"):
    pairs.check_seq_len(4)
  a, b, label = pairs.make_pair(np.array([5]), lambda: DOCS[0], task="nsp", budget=10,
                                rng=np.random.default_rng(0))
  assert label == -1 and pairs.pack_pair(a, b, label, seq_len=6, cls_id=2, sep_id=1,
                                         pad_id=0)["pair_weight"].tolist() == [0.0]


def test_pipeline_nsp_negatives_never_come_from_the_same_document(tmp_path):
  """Three documents with disjoint letters: a NotNext B never shares A's letters."""
  letters = ["abc", "lmn", "xyz"]
  files = []
  for i, chars in enumerate(letters):
    path = tmp_path / f"doc{i}.txt"
    path.write_text(" ".join(chars * 3 for _ in range(150)), encoding="utf-8")
    files.append(str(path))
  cfg = base.get_config().data
  cfg.update(dict(dataset="text_files", files=",".join(files), data_dir=str(tmp_path / "tfds"),
                  tokenizer="char", mask_token=True, seq_len=24, batch_size=16))
  tok = data.build_tokenizer(cfg, None, lambda: data.iter_texts(cfg, "train"))
  it = iter(data.make_pair_dataset(cfg, tok, "train", task="nsp", seed=0))
  labels = []
  for batch in (next(it) for _ in range(4)):
    for row, types, label in zip(batch["targets"], batch["token_types"], batch["pair_label"]):
      real = row > tok.sep_id  # drop [CLS]/[SEP]/padding
      a = set(tok.decode(row[real & (types == 0)]).replace(" ", ""))
      b = set(tok.decode(row[real & (types == 1)]).replace(" ", ""))
      assert a and b
      assert (a.isdisjoint(b)) == bool(label[0]), (a, b, label)
      labels.append(int(label[0]))
  assert 0.25 < np.mean(labels) < 0.75


def test_nsp_needs_two_documents(tmp_path):
  path = tmp_path / "one.txt"
  path.write_text("only one document here. " * 20, encoding="utf-8")
  cfg = base.get_config().data
  cfg.update(dict(dataset="text_files", files=str(path), data_dir=str(tmp_path / "tfds"),
                  tokenizer="char", mask_token=True, seq_len=24, batch_size=4))
  tok = data.build_tokenizer(cfg, None, lambda: data.iter_texts(cfg, "train"))
  with pytest.raises(ValueError, match="NSP draws negatives from another document"):
    data.make_pair_dataset(cfg, tok, "train", task="nsp", seed=0)
