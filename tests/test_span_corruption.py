"""T5 span corruption: sentinel interleaving, exact reconstruction, noise statistics, pipeline."""
import numpy as np
import pytest

from data import span_corruption as sc
from data import tokenizers
from data.seq2seq import make_span_corruption_dataset, span_lengths
from experiments.configs import t5_tiny_span
from tests import tiny

EOS = 1
SENTINELS = tuple(range(999, 899, -1))  # <extra_id_0> = 999, <extra_id_1> = 998, ...


def test_hand_made_mask_gives_t5s_inputs_and_targets():
  tokens = np.array([10, 11, 12, 13, 14, 15])
  noise = np.array([False, True, True, False, True, False])
  assert sc._to_unique_sentinel(tokens, noise, SENTINELS).tolist() == [10, 999, 13, 998, 15]
  # kept text after the last span gets a sentinel of its own in the targets (as in T5)
  assert sc._to_unique_sentinel(tokens, ~noise, SENTINELS).tolist() == [
      999, 11, 12, 998, 14, 997]


@pytest.mark.parametrize("seed", range(20))
def test_sentinels_interleave_and_reconstruct_exactly(seed):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(3, 500, size=int(rng.integers(2, 300)))
  inputs, targets = sc.corrupt(tokens, np.random.default_rng([seed, 1]),
                               sentinel_ids=SENTINELS, eos_id=EOS)
  assert inputs[-1] == EOS and targets[-1] == EOS
  in_sent = [t for t in inputs if t in SENTINELS]
  tg_sent = [t for t in targets if t in SENTINELS]
  assert in_sent == tg_sent == list(SENTINELS[:len(in_sent)])  # extra_id_0, 1, ... in order
  assert targets[0] == SENTINELS[0]  # targets start with a span
  assert inputs[0] not in SENTINELS and inputs[-2] in SENTINELS  # kept first, noise last
  # no two sentinels adjacent in inputs (spans are separated by kept text)
  flags = np.isin(inputs[:-1], SENTINELS)
  assert not (flags[1:] & flags[:-1]).any()
  np.testing.assert_array_equal(sc.reconstruct(inputs, targets, SENTINELS, EOS), tokens)
  # the same rng seed gives the same corruption
  again = sc.corrupt(tokens, np.random.default_rng([seed, 1]), sentinel_ids=SENTINELS,
                     eos_id=EOS)
  np.testing.assert_array_equal(again[0], inputs)


def test_noise_density_and_span_length_over_many_draws():
  rng = np.random.default_rng(0)
  noise_total, spans, total = 0, 0, 0
  for _ in range(2000):
    length = int(rng.integers(20, 200))
    mask = sc.random_spans_noise_mask(length, rng)
    noise_total += mask.sum()
    spans += int((mask & ~np.concatenate([[False], mask[:-1]])).sum())
    total += length
    assert mask.sum() == min(max(round(length * 0.15), 1), length - 1)
  assert noise_total / total == pytest.approx(0.15, abs=0.005)
  assert noise_total / spans == pytest.approx(3.0, abs=0.15)


def test_lengths_follow_t5s_helper():
  assert sc.random_spans_helper(512) == (568, 114)  # T5's span_corruption task lengths
  assert sc.random_spans_helper(128) == (141, 29)  # 141 - 21 noise + 7 sentinels + EOS
  with pytest.raises(ValueError, match="noise_density"):
    sc.check(1.5, 3.0)


def test_pipeline_batches_are_deterministic_and_reconstruct(tmp_path):
  c = t5_tiny_span.get_config().data
  c.dataset, c.files, c.data_dir = "text_files", tiny.write_corpus(str(tmp_path)), str(tmp_path)
  c.tokenizer, c.seq_len, c.batch_size, c.shuffle_buffer = "char", 32, 4, 8
  tok = tokenizers.WithSentinels(tokenizers.CharTokenizer(set(tiny.CORPUS)), c.num_sentinels)
  raw_len, targets_len = span_lengths(c)
  first = [next(iter(make_span_corruption_dataset(c, tok, "train", seed=1))) for _ in range(2)]
  np.testing.assert_array_equal(first[0]["inputs"], first[1]["inputs"])
  batch = first[0]
  assert batch["inputs"].shape == (4, 32) and batch["targets"].shape == (4, targets_len)
  for row in range(4):
    original = sc.reconstruct(batch["inputs"][row], batch["targets"][row], tok.sentinel_ids,
                              tok.eos_id)
    assert len(original) == raw_len
    assert tok.decode(original) in tiny.CORPUS * 2
    assert batch["weights"][row].sum() == (batch["targets"][row] != 0).sum()
  assert "<extra_id_0>" in tok.decode(batch["inputs"][0])
  other = next(iter(make_span_corruption_dataset(c, tok, "train", seed=2)))
  assert not np.array_equal(other["inputs"], batch["inputs"])


def test_span_corruption_needs_sentinels(tmp_path):
  c = t5_tiny_span.get_config().data
  c.dataset, c.files, c.data_dir = "text_files", tiny.write_corpus(str(tmp_path)), str(tmp_path)
  with pytest.raises(ValueError, match="data.num_sentinels"):
    make_span_corruption_dataset(c, tokenizers.ByteTokenizer(), "train", seed=0)


def test_sentinel_tokenizer_saves_and_reloads(tmp_path):
  tok = tokenizers.WithSentinels(tokenizers.ByteTokenizer(), 3)
  assert tok.vocab_size == 262 and tok.sentinel_ids == (261, 260, 259)
  assert tok.decode([3 + ord("a"), 261, 3 + ord("b"), 259, 1]) == "a<extra_id_0>b<extra_id_2>"
  tok.save(str(tmp_path / "tokenizer"))
  again = tokenizers.load_tokenizer(str(tmp_path / "tokenizer"))
  assert again.sentinel_ids == tok.sentinel_ids and again.vocab_size == tok.vocab_size
  c = t5_tiny_span.get_config().data
  c.tokenizer, c.num_sentinels = "byte", 5
  with pytest.raises(ValueError, match="3 sentinels but the config asks for data.num_sentinels=5"):
    tokenizers.build_tokenizer(c, str(tmp_path), lambda: [])


def test_packing_corrupts_each_document_apart_and_packs_several_per_row(tmp_path):
  documents = [line for line in tiny.CORPUS.splitlines() if line]  # one file each
  for i, doc in enumerate(documents):
    (tmp_path / f"doc{i}.txt").write_text(doc + "\n", encoding="utf-8")
  c = t5_tiny_span.get_config().data
  c.dataset, c.files, c.data_dir = "text_files", str(tmp_path / "doc*.txt"), str(tmp_path)
  c.tokenizer, c.seq_len, c.batch_size, c.packing = "char", 64, 4, True
  tok = tokenizers.WithSentinels(tokenizers.CharTokenizer(set(tiny.CORPUS)), c.num_sentinels)
  raw_len, targets_len = span_lengths(c)
  make = lambda seed: next(iter(make_span_corruption_dataset(c, tok, "train", seed=seed)))
  batch, again = make(1), make(1)
  for key in batch:
    np.testing.assert_array_equal(batch[key], again[key], err_msg=key)
  assert batch["inputs"].shape == (4, 64) and batch["targets"].shape == (4, targets_len)
  counts = []
  for row in range(4):
    ids_in, ids_tgt = batch["inputs_segment_ids"][row], batch["targets_segment_ids"][row]
    counts.append(ids_in.max())
    assert ids_tgt.max() == ids_in.max()
    for s in range(1, ids_in.max() + 1):
      original = tok.decode(sc.reconstruct(batch["inputs"][row][ids_in == s],
                                           batch["targets"][row][ids_tgt == s],
                                           tok.sentinel_ids, tok.eos_id))
      assert 2 <= len(original) <= raw_len
      # one chunk of ONE document: packing never lets an example span two
      assert any(original in doc for doc in documents), original
  assert sum(counts) > 4  # several documents share rows
  assert not np.array_equal(make(2)["inputs"], batch["inputs"])
