"""Seq2seq end to end: the reverse task is learned, decoding and BLEU/chrF, bad data."""
import json
import os

import numpy as np
import pytest

from data import sources
from data.builders import parallel_text
from data.builders import synthetic
from data import seq2seq as seq2seq_data
from eval import seq2seq as seq2seq_eval
from experiments.configs import seq2seq_reverse
from train import loop


def reverse_config(data_dir: str):
  """Letters 3-6 long, a 1-layer 32-wide model; learned positions learn this fastest."""
  c = seq2seq_reverse.get_config()
  c.data.data_dir = data_dir
  c.data.min_len, c.data.max_len = 3, 6
  c.data.num_train, c.data.num_eval = 4000, 200
  c.data.seq_len = c.data.max_target_len = 8
  c.data.batch_size = 32
  c.model.update(dict(d_model=32, mlp_dim=64, max_len=8, num_layers=1, position="learned"))
  c.train.update(dict(steps=300, learning_rate=1e-2, warmup_steps=20, log_every=50,
                      eval_every=10_000, checkpoint_every=10_000, progress=False))
  c.decode.update(dict(beam_size=1, max_len=8))
  return c


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("reverse"))
  config = reverse_config(str(tmp_path_factory.mktemp("tfds")))
  return workdir, loop.train_and_evaluate(config, workdir)


def test_reverse_task_reaches_95_percent_exact_match(reverse_run):
  workdir, report = reverse_run
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    train = [r for r in map(json.loads, f) if r["split"] == "train"]
  assert train[-1]["loss"] < train[0]["loss"] - 2.0
  # teacher-forced exact match equals greedy decoding's (measured: 1.0 at 300 steps)
  assert report["seq/exact_match"] >= 0.95, report
  assert report["generate/exact_match"] >= 0.95, report
  assert report["generate/chrf"] >= 95.0 and report["generate/bleu"] >= 90.0, report
  with open(os.path.join(workdir, "translations_validation.txt")) as f:
    assert "reference:" in f.read()


def test_beam_search_on_the_trained_model_via_the_workdir(reverse_run):
  workdir, _ = reverse_run
  from train import experiment
  config = experiment.load_config(workdir)
  assert seq2seq_eval.is_seq2seq(config)
  report = seq2seq_eval.generate_workdir(workdir, "test")
  assert report["beam_size"] == 1 and report["exact_match"] >= 0.95
  for s in report["samples"]:
    assert len(s["source"]) == len(s["reference"])


def test_bleu_and_chrf_of_perfect_and_garbage_outputs():
  refs = ["a man rides a horse on the beach .", "two dogs play in the snow ."]
  perfect = seq2seq_eval.text_scores(refs, refs)
  assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
  assert perfect["exact_match"] == 1.0
  garbage = seq2seq_eval.text_scores(["xq zv kkk", "pppp wq"], refs)
  assert garbage["bleu"] < 1.0 and garbage["chrf"] < 10.0 and garbage["exact_match"] == 0.0
  words = seq2seq_eval.text_scores(["abcdef", "xyzw"], ["abcdef", "xyzw"], tokenize="char")
  assert words["bleu"] == pytest.approx(100.0)  # one-"word" lines score by characters
  with pytest.raises(ValueError, match="as many hypotheses"):
    seq2seq_eval.text_scores(["a"], refs)


@pytest.mark.parametrize("task,check", [
    ("reverse", lambda s, t: t == s[::-1]),
    ("sort", lambda s, t: t == "".join(sorted(s))),
    ("copy", lambda s, t: t == s),
    ("addition", lambda s, t: int(t) == sum(map(int, s.split("+")))),
])
def test_synthetic_tasks_are_right_and_seeded(task, check):
  rng = np.random.default_rng(3)
  pairs = [synthetic.make_example(task, rng, 2, 5) for _ in range(50)]
  assert all(check(s, t) for s, t in pairs)
  again = np.random.default_rng(3)
  assert pairs == [synthetic.make_example(task, again, 2, 5) for _ in range(50)]
  with pytest.raises(ValueError, match="data.task"):
    synthetic.check_task("rot13", 1, 2, {"train": 1})


def write(path, lines):
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
  return str(path)


def test_parallel_files_bad_input(tmp_path):
  en = write(tmp_path / "a.en", ["one", "two", "three"])
  de = write(tmp_path / "a.de", ["eins", "zwei"])
  with pytest.raises(ValueError, match=r"a\.en has 3 lines but .*a\.de has 2"):
    parallel_text.read_aligned(en, de)
  # Empty lines policy: a pair with an empty (or blank) side is dropped.
  en = write(tmp_path / "b.en", ["one", "", "three", "four"])
  de = write(tmp_path / "b.de", ["eins", "zwei", "   ", "vier"])
  pairs, dropped = parallel_text.read_aligned(en, de)
  assert pairs == [("one", "eins"), ("four", "vier")] and dropped == 2
  with pytest.raises(ValueError, match="two aligned files"):
    parallel_text.expand_pair(str(tmp_path / "b.en"), "train_files")
  assert parallel_text.expand_pair(str(tmp_path / "b.{en,de}"), "train_files") == (en, de)


def test_too_long_examples_truncate_or_raise():
  ids = np.arange(3, 10)  # 7 tokens, EOS (1) appended by the caller
  cut = seq2seq_data.fit(np.append(ids, 1), 5, 0, policy="truncate", what="target")
  np.testing.assert_array_equal(cut, [3, 4, 5, 6, 7])  # no EOS: not taught to stop there
  padded = seq2seq_data.fit(np.array([3, 1]), 4, 0, policy="error", what="target")
  np.testing.assert_array_equal(padded, [3, 1, 0, 0])
  with pytest.raises(ValueError, match="target of example 7 .* 8 tokens .* more than 5"):
    seq2seq_data.fit(np.append(ids, 1), 5, 0, policy="error",
                     what="the target of example 7 (data.max_target_len)")


def test_parallel_text_dataset_trains_one_vocab_on_both_sides(tmp_path):
  en = write(tmp_path / "t.en", ["a cat sits", "a dog runs", "the bird flies"])
  de = write(tmp_path / "t.de", ["eine Katze sitzt", "ein Hund rennt", "der Vogel fliegt"])
  c = seq2seq_reverse.get_config().data
  c.dataset = "parallel_text"
  c.train_files = f"{en},{de}"
  c.data_dir = str(tmp_path / "tfds")
  texts = list(sources.iter_texts(c, "train"))
  assert texts == ["a cat sits", "eine Katze sitzt", "a dog runs", "ein Hund rennt",
                   "the bird flies", "der Vogel fliegt"]
  with pytest.raises(ValueError, match="no split 'test'"):
    sources.get_source(c, "test")


def test_multi30k_files_read_aligned(shared_data):
  d = shared_data / "multi30k"
  pairs, dropped = parallel_text.read_aligned(str(d / "val.en"), str(d / "val.de"))
  assert len(pairs) + dropped == 1014
  assert pairs[0][0].startswith("A group of men")


def test_tfds_translation_datasets_are_read_by_language_features():
  c = seq2seq_reverse.get_config().data
  c.dataset, c.source_lang, c.target_lang = "wmt14_translate/de-en", "en", "de"
  assert sources.pair_keys(c) == ("en", "de")
  record = {"de": b"Hallo Welt", "en": b"hello world"}
  assert [sources.record_text(record, k) for k in sources.pair_keys(c)] == [
      "hello world", "Hallo Welt"]
  c.source_lang = ""
  with pytest.raises(ValueError, match="source_lang"):
    seq2seq_data.check(c)
