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
  c.train.update(dict(steps=750, learning_rate=1e-2, warmup_steps=20, log_every=50,
                      eval_every=10_000, checkpoint_every=10_000, progress=False))
  c.decode.update(dict(beam_size=1, max_len=8))
  return c


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("reverse"))
  config = reverse_config(str(tmp_path_factory.mktemp("tfds")))
  return workdir, loop.train_and_evaluate(config, workdir)


def test_reverse_task_reaches_95_percent_exact_match(reverse_run):
  """750 steps, measured 2026-12-03 with XLA:CPU capped at SSE4.2 and AVX2, on AVX-512,
  and with LLVM at -O2 and -O3 (the code, so the last bits, differ): exact match
  (teacher-forced and greedy) 1.0, chrF 100, final train loss 0.0066-0.0070 under all four.
  At 500 steps it was still mid-transition (train loss 0.12-0.17): -O3 gave 1.0 / 100,
  -O2 gave exact match 0.95 and chrF 91.9, so a last-bit change decided the test."""
  workdir, report = reverse_run
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    train = [r for r in map(json.loads, f) if r["split"] == "train"]
  assert train[-1]["loss"] < train[0]["loss"] - 2.0
  # teacher-forced exact match equals greedy decoding's
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


def segments(row: dict, side: str) -> list:
  """The examples of a packed row's side, in order, as token lists."""
  ids = row[f"{side}_segment_ids"]
  return [row[side][ids == s].tolist() for s in range(1, ids.max() + 1)]


def test_packed_batches_hold_several_examples_with_the_loss_of_unpacked_ones(tmp_path):
  import jax
  import flax.linen as nn
  import model as model_lib
  from data import tokenizers
  from train import tasks
  c = reverse_config(str(tmp_path))
  c.data.num_train, c.data.num_eval, c.data.batch_size = 64, 40, 4
  c.data.seq_len = c.data.max_target_len = c.model.max_len = 20
  tok = tokenizers.CharTokenizer(set("abcdefghijklmnopqrstuvwxyz"))
  c.model.vocab_size = tok.vocab_size
  unpacked = list(seq2seq_data.make_seq2seq_dataset(c.data, tok, "validation", seed=0,
                                                    train=False))
  c.data.packing = True
  packed = list(seq2seq_data.make_seq2seq_dataset(c.data, tok, "validation", seed=0,
                                                  train=False))
  rows = [{k: v[r] for k, v in b.items()} for b in packed for r in range(4)]
  examples = [pair for row in rows for pair in zip(segments(row, "inputs"),
                                                   segments(row, "targets"))]
  assert len(examples) == 40 and len(packed) < len(unpacked) / 2  # 2-4 examples a row
  for src, tgt in examples:  # every segment pairs a source with ITS reversed target
    assert src[-1] == tgt[-1] == tok.eos_id and tgt[:-1] == src[:-1][::-1]
  for row in rows:
    np.testing.assert_array_equal(row["weights"], row["targets_segment_ids"] > 0)
  # The objective on the first packed batch == on the same examples one per row (jitted:
  # one compile per batch shape instead of one per op).
  module = model_lib.build(c.model)
  params = jax.jit(lambda x, y: nn.meta.unbox(module.init(jax.random.PRNGKey(0), x, y)))(
      packed[0]["inputs"], packed[0]["targets"])["params"]
  loss_fn = jax.jit(tasks.for_config(c).make_loss_fn(c, module), static_argnums=3)
  _, sums = loss_fn(params, packed[0], jax.random.PRNGKey(0), True)
  n = int(sums["seq/weight"])
  alone = {k: np.concatenate([b[k] for b in unpacked])[:n] for k in unpacked[0]}
  _, want = loss_fn(params, alone, jax.random.PRNGKey(0), True)
  assert n >= 8 and want["seq/weight"] == n
  for key in ("loss_sum", "correct_sum", "weight", "seq/exact_match_sum"):
    np.testing.assert_allclose(sums[key], want[key], rtol=1e-5, err_msg=key)


def test_packed_training_learns_and_resumes_exactly(tmp_path):
  """The packer's state rides in the checkpoint: a resumed run packs the same rows."""
  c = reverse_config(str(tmp_path / "tfds"))
  c.data.num_train, c.data.num_eval, c.data.batch_size, c.data.packing = 256, 32, 8, True
  c.data.seq_len = c.data.max_target_len = c.model.max_len = 16
  c.train.update(dict(steps=30, log_every=1, checkpoint_every=100, eval_every=100))
  c.decode.max_examples = 8
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  loop.train_and_evaluate(c, straight)
  assert loop.train_and_evaluate(c, resumed, stop_after=13) is None
  loop.train_and_evaluate(c, resumed)
  def losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      return [(r["step"], r["loss"]) for r in map(json.loads, f) if r["split"] == "train"]
  assert losses(straight) == losses(resumed) and len(losses(straight)) == 30
  assert losses(straight)[-1][1] < losses(straight)[0][1] - 0.3  # measured 3.40 -> 2.92
