"""BERT masking: exact selection statistics, specials never chosen, static vs dynamic."""
import numpy as np
import pytest

from data import masking

VOCAB, MASK, SPECIALS = 100, 99, (0, 1, 2)


def corpus(rows=400, length=128, seed=0):
  """Content ids 3..98 with specials sprinkled in and trailing padding."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(3, MASK, size=(rows, length))
  tokens[:, ::17] = 1  # [SEP]/eos
  tokens[:, 0] = 2  # [CLS]/bos
  tokens[:, -10:] = 0  # padding
  return tokens


def mask(tokens, step=0, mode="dynamic", **kwargs):
  rngs = masking.batch_rng(tokens, seed=7, step=step, mode=mode, dupe_factor=3)
  return masking.mask_tokens(tokens, rngs, mask_id=MASK, vocab_size=VOCAB,
                             special_ids=SPECIALS, **kwargs)


@pytest.fixture(scope="module")
def sample():
  tokens = corpus()
  return tokens, mask(tokens)


def test_selects_15_percent_of_content_tokens_and_never_specials(sample):
  tokens, out = sample
  selected = out["weights"] > 0
  content = ~np.isin(tokens, SPECIALS)
  assert not (selected & ~content).any()
  # exactly round(15% of the row's content tokens) per row
  np.testing.assert_array_equal(selected.sum(1), np.round(0.15 * content.sum(1)))
  assert abs(selected.sum() / content.sum() - 0.15) < 0.005
  np.testing.assert_array_equal(out["targets"], tokens)
  np.testing.assert_array_equal(out["inputs"][~selected], tokens[~selected])


def test_80_10_10_split(sample):
  tokens, out = sample
  selected = out["weights"] > 0
  n = selected.sum()  # ~6,600 draws: 3 sigma of a 10% share is ~1.1%
  masked = (out["inputs"] == MASK) & selected
  kept = (out["inputs"] == tokens) & selected
  changed = selected & ~masked & ~kept
  assert abs(masked.sum() / n - 0.8) < 0.015
  # a random replacement equals the original 1/96 of the time: counted as kept
  assert abs(changed.sum() / n - 0.1 * 95 / 96) < 0.012
  assert abs(kept.sum() / n - (0.1 + 0.1 / 96)) < 0.012
  assert not np.isin(out["inputs"][changed], SPECIALS + (MASK,)).any()


def test_same_seed_gives_same_masks_dynamic_changes_per_step_static_repeats():
  tokens = corpus(rows=8)
  a, b = mask(tokens, step=4), mask(tokens, step=4)
  np.testing.assert_array_equal(a["inputs"], b["inputs"])
  assert (mask(tokens, step=5)["weights"] != a["weights"]).any()  # dynamic: fresh
  s0, s3 = mask(tokens, step=0, mode="static"), mask(tokens, step=3, mode="static")
  np.testing.assert_array_equal(s0["inputs"], s3["inputs"])  # dupe_factor=3 copies cycle
  s1 = mask(tokens, step=1, mode="static")
  assert (s1["weights"] != s0["weights"]).any()
  # static masks follow the row's content, not where it sits in the batch
  flipped = mask(tokens[::-1], step=0, mode="static")
  np.testing.assert_array_equal(flipped["inputs"][::-1], s0["inputs"])


def test_whole_word_masking_masks_all_pieces_of_a_word():
  tokens = corpus(rows=50, length=64)
  word_starts = np.zeros(tokens.shape, bool)
  word_starts[:, ::3] = True  # words of three pieces
  out = mask(tokens, word_starts_BxT=word_starts)
  content = ~np.isin(tokens, SPECIALS)
  for row in range(len(tokens)):
    sel = out["weights"][row] > 0
    starts = word_starts[row][content[row]]
    starts[0] = True
    word_of = np.cumsum(starts) - 1
    chosen = np.unique(word_of[sel[content[row]]])
    np.testing.assert_array_equal(sel[content[row]], np.isin(word_of, chosen))


def test_bad_settings_raise_clear_errors():
  tokens = corpus(rows=2)
  for rate in (0.0, 1.0, -0.1):
    with pytest.raises(ValueError, match="mask_rate"):
      mask(tokens, mask_rate=rate)
  with pytest.raises(ValueError, match="data.masking"):
    masking.batch_rng(tokens, seed=0, step=0, mode="sometimes")


def test_mask_token_is_appended_and_survives_save_and_load(tmp_path):
  from data import tokenizers
  plain = tokenizers.CharTokenizer("abc")
  with_mask = tokenizers.WithMaskToken(plain)
  assert (with_mask.mask_id, with_mask.vocab_size) == (plain.vocab_size, plain.vocab_size + 1)
  assert with_mask.encode("cab") == plain.encode("cab")  # existing ids unchanged
  assert with_mask.decode(plain.encode("ab") + [with_mask.mask_id]) == "ab"
  assert (with_mask.cls_id, with_mask.sep_id) == (plain.bos_id, plain.eos_id)
  with_mask.save(str(tmp_path / "m"))
  plain.save(str(tmp_path / "p"))
  assert tokenizers.load_tokenizer(str(tmp_path / "m")).mask_id == with_mask.mask_id
  assert tokenizers.load_tokenizer(str(tmp_path / "p")).mask_id is None  # old dirs as before


def test_word_starts_come_from_sentencepiece_pieces():
  from data import tokenizers
  from tests import tiny
  spm = tokenizers.WithMaskToken(
      tokenizers.SentencePieceTokenizer.train([tiny.CORPUS], vocab_size=320))
  table = masking.word_start_table(spm)
  ids = spm.encode("the lazy dog")
  pieces = [spm.inner._sp.id_to_piece(i) for i in ids]
  assert table[ids].tolist() == [p.startswith("\u2581") for p in pieces]
  assert table[ids].sum() == 2  # " lazy", " dog" (no dummy prefix before "the")
  assert not table[spm.mask_id]
  with pytest.raises(ValueError, match="sentencepiece"):
    masking.word_start_table(tokenizers.CharTokenizer("abc"))
