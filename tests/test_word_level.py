"""Word-level language modelling: the word tokenizer and the PTB conventions."""
import os

import pytest

import data
from data import tokenizers
from experiments.configs import base

PTB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                   "ptb")


def test_words_unk_and_one_eos_per_line():
  tok = tokenizers.WordTokenizer.train(["the cat sat\nthe dog <unk> sat\n"])
  assert tok.words == ["<unk>", "the", "sat", "cat", "dog"]  # by count, then first seen
  ids = tok.encode("the cat  sat\nthe bird\n")
  assert ids == [4, 6, 5, tokenizers.EOS_ID, 4, tok.unk_id, tokenizers.EOS_ID]
  assert tok.decode(ids) == "the cat sat\nthe <unk>\n"
  assert tok.encode("no newline") == [tok.unk_id, tok.unk_id]  # a piece of a line: no EOS


def test_vocab_size_keeps_the_most_frequent_words():
  tok = tokenizers.WordTokenizer.train(["a a a b b c d\n"], vocab_size=6)
  assert tok.vocab_size == 6 and tok.words == ["<unk>", "a", "b"]
  with pytest.raises(ValueError, match="leaves no room for words"):
    tokenizers.WordTokenizer.train(["a\n"], vocab_size=4)


def test_saved_in_the_workdir_and_reloaded(tmp_path):
  cfg = base.get_config().data
  cfg.tokenizer, cfg.vocab_size = "word", 0
  first = data.build_tokenizer(cfg, str(tmp_path), lambda: iter(["x y z\n"]))
  again = data.build_tokenizer(cfg, str(tmp_path), lambda: iter(["other words\n"]))
  assert again.kind == "word" and again.encode("z y x\n") == first.encode("z y x\n")


@pytest.mark.skipif(not os.path.isdir(PTB), reason=f"PTB data not found at {PTB}")
def test_ptb_vocabulary_and_counts_match_the_papers():
  """Mikolov's PTB: 10k types with <eos> (here 9,999 words with <unk>, EOS an id of its
  own); 929,589 train and 73,760 valid words counting one <eos> per line."""
  read = lambda split: open(os.path.join(PTB, f"ptb.{split}.txt"), encoding="utf-8").read()
  train = read("train")
  tok = tokenizers.WordTokenizer.train([train])
  assert len(tok.words) + 1 == 10_000
  assert len(tok.encode(train)) == 929_589
  valid = tok.encode(read("valid"))
  assert len(valid) == 73_760 and valid.count(tok.unk_id) == read("valid").count("<unk>")


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
  """The tiny GPT for 10 steps with the byte and the word tokenizer: (config, final.json)."""
  from tests import tiny
  from train import loop
  root = tmp_path_factory.mktemp("word_level")
  corpus = tiny.write_corpus(str(root))
  runs = {}
  for kind in ("byte", "word"):
    c = tiny.tiny_config(corpus, str(root / "tfds"), steps=10)
    c.data.tokenizer, c.data.vocab_size, c.sample.num_samples = kind, 0, 0
    if kind == "word":  # fixed splits: train on the corpus, validate and test on others
      c.data.files, c.data.train_files = "", corpus
      for split, text in SPLIT_TEXTS.items():
        (root / f"{split}.txt").write_text(text)
        c.data[f"{split}_files"] = str(root / f"{split}.txt")
    runs[kind] = (c, loop.train_and_evaluate(c, str(root / kind)))
  return runs


SPLIT_TEXTS = {"validation": "the quick brown fox is not gold.\nto be or not to be.\n" * 3,
               "test": "a stitch in time saves the lazy dog.\n" * 4}


def _split_counts(cfg):
  from data import sources
  texts = list(sources.iter_texts(cfg.data, cfg.data.eval_split))
  return (sum(len(t.encode("utf-8")) for t in texts),
          sum(len(t.split()) + t.count("\n") for t in texts))


def test_bits_per_byte_counts_every_byte_of_the_split_once(tiny_runs):
  """Byte tokens: the whole-split pass predicts every byte but the first, so the token
  count and bits per byte pin the coverage exactly."""
  import math
  c, final = tiny_runs["byte"]
  n_bytes, _ = _split_counts(c)
  assert final["tokens"] == n_bytes - 1
  assert final["bits_per_byte"] == pytest.approx(
      final["loss"] * final["tokens"] / math.log(2) / n_bytes, rel=1e-6)
  assert final["bits_per_char"] == pytest.approx(final["bits_per_byte"])  # ASCII corpus


def test_per_word_perplexity_is_the_word_tokenizer_perplexity(tiny_runs):
  """Word tokens are the papers' words (one <eos> per line), so per-word perplexity is
  the token perplexity up to the one unpredicted first word."""
  import math
  c, final = tiny_runs["word"]
  _, words = _split_counts(c)
  assert final["words"] == words and final["tokens"] == words - 1
  assert final["word_perplexity"] == pytest.approx(
      math.exp(final["loss"] * (words - 1) / words), rel=1e-6)


def test_fixed_splits_are_the_files_given(tiny_runs):
  from data import sources
  c, final = tiny_runs["word"]
  for split, text in SPLIT_TEXTS.items():
    assert "".join(sources.iter_texts(c.data, split)) == text
  assert final["words"] == len(SPLIT_TEXTS["validation"].split()) + 6


def test_files_and_fixed_splits_together_are_refused(tmp_path):
  from data import sources
  from tests import tiny
  c = tiny.tiny_config(tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds"))
  c.data.test_files = c.data.files
  with pytest.raises(ValueError, match="use data.files .* or fixed splits"):
    sources.get_source(c.data, "train")


def test_a_finished_run_scores_its_test_split_and_other_files(tiny_runs, tmp_path):
  """eval.main --split=test, and --files: other text, scored without touching the run."""
  import json
  from eval import evaluate
  c, _ = tiny_runs["word"]
  workdir = os.path.join(os.path.dirname(c.data.test_files), "word")
  saved = open(os.path.join(workdir, "config.json")).read()
  test = evaluate.evaluate_workdir(workdir, split="test")
  assert test["words"] == len(SPLIT_TEXTS["test"].split()) + 4
  other = tmp_path / "other.txt"
  other.write_text(SPLIT_TEXTS["test"])
  on_files = evaluate.evaluate_workdir(workdir, files=str(other))
  assert on_files["loss"] == pytest.approx(test["loss"], rel=1e-6)
  assert on_files["files"] == str(other)
  assert json.load(open(os.path.join(workdir, "eval_files.json")))["words"] == test["words"]
  assert open(os.path.join(workdir, "config.json")).read() == saved
  byte_workdir = os.path.join(os.path.dirname(workdir), "byte")
  with pytest.raises(ValueError, match="--files and --split=test both given"):
    evaluate.evaluate_workdir(byte_workdir, split="test", files=str(other))
