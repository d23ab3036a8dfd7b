"""Tests for data/: tokenizers, TFDS builders, sources and the packed LM pipeline."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import data
from data import tokenizers
from data.builders import python_stdlib
from data.builders import text_files
from experiments.configs import base

NON_ASCII = "naïve café — 東京 😀 ẞ\n\tend"


def data_cfg(tmp_path, **overrides):
  cfg = base.get_config().data
  cfg.data_dir = str(tmp_path / "tfds")
  for key, value in overrides.items():
    setattr(cfg, key, value)
  return cfg


def write(path, text):
  path.write_text(text, encoding="utf-8")
  return str(path)


def texts(cfg, split):
  return list(data.iter_texts(cfg, split))


def eval_stream(batches):
  """The token stream an eval pass covered: windows share one token (stride L)."""
  pieces = [row_inputs[row_weights > 0]
            for b in batches for row_inputs, row_weights in zip(b["inputs"], b["weights"])]
  last = [b for b in batches if b["weights"].sum() > 0][-1]
  row = np.nonzero(last["weights"].sum(1))[0][-1]
  final_target = last["targets"][row][last["weights"][row] > 0][-1]
  return np.concatenate(pieces + [[final_target]]).tolist()


# ----------------------------------------------------------------- tokenizers


def test_byte_tokenizer_ids_and_round_trip():
  tok = tokenizers.ByteTokenizer()
  assert (tok.vocab_size, tok.pad_id, tok.eos_id, tok.bos_id) == (259, 0, 1, 2)
  assert tok.encode("a€") == [ord("a") + 3, 0xE2 + 3, 0x82 + 3, 0xAC + 3]
  assert tok.decode(tok.encode(NON_ASCII)) == NON_ASCII
  assert tok.decode([2] + tok.encode("hi") + [1, 0, 0]) == "hi"
  assert tok.decode([0xE2 + 3]) == "\ufffd"  # A cut character is replaced.


def test_char_tokenizer_vocab_round_trip_and_unseen_char():
  tok = tokenizers.CharTokenizer.train([NON_ASCII, "abc"])
  chars = sorted(set(NON_ASCII + "abc"))
  assert tok.vocab_size == len(chars) + 3
  assert tok.encode("a") == [chars.index("a") + 3]
  assert tok.decode(tok.encode(NON_ASCII)) == NON_ASCII
  assert tok.decode([1, 2, 0] + tok.encode("cab")) == "cab"
  with pytest.raises(ValueError, match="'Z'"):
    tok.encode("abZ")


def test_sentencepiece_round_trip_specials_and_determinism():
  corpus = ["the quick brown fox jumps over the lazy dog %d times\n" % i for i in range(300)]
  kwargs = dict(vocab_size=400, model_type="bpe", max_chars=100_000)
  tok = tokenizers.SentencePieceTokenizer.train(corpus, **kwargs)
  assert (tok.pad_id, tok.eos_id, tok.bos_id) == (0, 1, 2)
  assert 300 < tok.vocab_size <= 400
  for text in (NON_ASCII, "    def f(x):\n        return x  # ok\n", corpus[7]):
    assert tok.decode(tok.encode(text)) == text
  assert len(tok.encode("the quick brown fox")) < len("the quick brown fox") / 2
  again = tokenizers.SentencePieceTokenizer.train(corpus, **kwargs)
  assert again.model_proto == tok.model_proto
  unigram = tokenizers.SentencePieceTokenizer.train(
      corpus, vocab_size=300, model_type="unigram", max_chars=100_000)
  assert unigram.decode(unigram.encode(NON_ASCII)) == NON_ASCII


@pytest.mark.parametrize("kind", ["byte", "char", "sentencepiece"])
def test_save_load_gives_identical_ids(tmp_path, kind):
  corpus = [NON_ASCII * 3, "hello world, hello tokens\n" * 50]
  cfg = data_cfg(tmp_path, tokenizer=kind, vocab_size=300)
  tok = data.build_tokenizer(cfg, str(tmp_path / "run"), lambda: iter(corpus))
  assert os.path.exists(tmp_path / "run" / "tokenizer" / "tokenizer.json")
  loaded = data.load_tokenizer(str(tmp_path / "run" / "tokenizer"))
  assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
  assert loaded.encode(NON_ASCII) == tok.encode(NON_ASCII)
  assert loaded.decode(tok.encode(NON_ASCII)) == NON_ASCII


def test_build_tokenizer_reloads_from_workdir(tmp_path):
  workdir = str(tmp_path / "run")
  cfg = data_cfg(tmp_path, tokenizer="char")
  first = data.build_tokenizer(cfg, workdir, lambda: iter(["abc"]))
  second = data.build_tokenizer(cfg, workdir, lambda: iter(["xyz, other text"]))
  assert second.vocab_size == first.vocab_size == 6
  assert second.encode("cab") == first.encode("cab")
  with pytest.raises(ValueError, match="'char' tokenizer"):
    data.build_tokenizer(data_cfg(tmp_path, tokenizer="byte"), workdir, lambda: iter([]))
  with pytest.raises(ValueError, match="sentencepiece"):
    data.build_tokenizer(data_cfg(tmp_path, tokenizer="wordpiece"), workdir, lambda: [])
  assert [p for p in os.listdir(workdir)] == ["tokenizer"]  # No staging dirs left.


# ------------------------------------------------------------ text_files builder


def test_text_files_splits_concatenate_to_the_file(tmp_path):
  lines = [f"line {i}: " + "é😀x" * (i % 97) + "\n" for i in range(600)]
  original = "".join(lines)
  path = write(tmp_path / "corpus.txt", original)
  cfg = data_cfg(tmp_path, dataset="text_files", files=path, val_fraction=0.2)
  train, valid = texts(cfg, "train"), texts(cfg, "validation")
  assert len(train) > 3 and all(len(t) <= 4096 for t in train + valid)
  assert "".join(train) + "".join(valid) == original
  assert "".join(valid).startswith("line ")  # Cut at a line start ...
  cut = len("".join(train))
  assert 0.8 * len(original) <= cut < 0.8 * len(original) + 400  # ... just after 80%.
  assert all(t.endswith("\n") for t in train)  # Records end on line ends.


def test_text_files_several_files_and_globs(tmp_path):
  a = write(tmp_path / "a.txt", "first file\n")
  write(tmp_path / "b1.txt", "second\n")
  write(tmp_path / "b2.txt", "third\n")
  cfg = data_cfg(tmp_path, dataset="text_files",
                 files=f"{a}, {tmp_path}/b*.txt", val_fraction=0.0)
  assert texts(cfg, "train") == ["first file\n", "second\n", "third\n"]
  with pytest.raises(ValueError, match="no split 'validation'"):
    texts(cfg, "validation")  # All text is train: the split is left out.


def test_text_files_bad_input_errors(tmp_path):
  bad = tmp_path / "latin1.txt"
  bad.write_bytes("ok line\ncaf\xe9\n".encode("latin-1"))
  cfg = data_cfg(tmp_path, dataset="text_files", files=str(bad))
  with pytest.raises(ValueError, match=r"latin1\.txt.*byte offset 11.*UTF-8"):
    data.get_source(cfg, "train")
  empty = write(tmp_path / "empty.txt", "")
  with pytest.raises(ValueError, match="empty.txt"):
    data.get_source(data_cfg(tmp_path, dataset="text_files", files=empty), "train")
  with pytest.raises(ValueError, match="nothing_here"):
    data.get_source(
        data_cfg(tmp_path, dataset="text_files", files=str(tmp_path / "nothing_here*")),
        "train")
  with pytest.raises(ValueError, match="no files"):
    data.get_source(data_cfg(tmp_path, dataset="text_files", files=""), "train")


def test_text_files_changed_file_is_prepared_again(tmp_path):
  path = tmp_path / "c.txt"
  write(path, "version one\n" * 10)
  cfg = data_cfg(tmp_path, dataset="text_files", files=str(path), val_fraction=0.0)
  assert "".join(texts(cfg, "train")) == "version one\n" * 10
  write(path, "version two!\n" * 10)
  os.utime(path, ns=(1, 1))  # A different mtime even on coarse clocks.
  assert "".join(texts(cfg, "train")) == "version two!\n" * 10


def test_preparing_a_project_dataset_leaves_no_temporary_directory(tmp_path, monkeypatch):
  """TFDS looks for an unprepared dataset's info in its GCS bucket through a fresh
  temporary directory, which it leaves behind; the project's builders skip that look-up."""
  private = tmp_path / "tmp"
  private.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(private))  # other workers use /tmp too
  path = write(tmp_path / "d.txt", "a line of text\n" * 20)
  cfg = data_cfg(tmp_path, dataset="text_files", files=path, val_fraction=0.0)
  assert "".join(texts(cfg, "train")) == "a line of text\n" * 20
  assert list(private.iterdir()) == []


# --------------------------------------------------------- python_stdlib builder


@pytest.fixture(scope="module")
def stdlib_cfg(tmp_path_factory):
  cfg = data_cfg(tmp_path_factory.mktemp("stdlib"), dataset="python_stdlib")
  data.get_source(cfg, "train")  # Prepares all splits once (~1 s).
  return cfg


def test_python_stdlib_splits_are_disjoint_and_by_path(stdlib_cfg):
  root = python_stdlib.stdlib_root()
  files = python_stdlib.stdlib_files(root)
  assert len(files) > 500 and not any("site-packages" in f for f in files)
  by_split = {s: [f for f in files if python_stdlib.split_of(f) == s]
              for s in ("train", "validation", "test")}
  assert sum(len(v) for v in by_split.values()) == len(files)
  assert 0.85 < len(by_split["train"]) / len(files) < 0.95
  for split, split_files in by_split.items():
    expected = []
    for rel in split_files:
      try:
        with open(os.path.join(root, rel), encoding="utf-8", newline="") as f:
          text = f.read()
      except UnicodeDecodeError:
        continue
      if text:
        expected.append(text)
    got = texts(stdlib_cfg, split)
    assert got and sorted(got) == sorted(expected)


def test_python_stdlib_split_is_stable_across_processes():
  sample = python_stdlib.stdlib_files(python_stdlib.stdlib_root())[:50]
  code = ("import json,sys; from data.builders.python_stdlib import split_of;"
          "print(json.dumps([split_of(f) for f in json.load(sys.stdin)]))")
  env = dict(os.environ, PYTHONHASHSEED="123")
  out = subprocess.run([sys.executable, "-c", code], input=json.dumps(sample),
                       capture_output=True, text=True, env=env, check=True,
                       cwd=os.path.dirname(os.path.dirname(__file__)))
  assert json.loads(out.stdout) == [python_stdlib.split_of(f) for f in sample]


def test_python_stdlib_pipeline_with_sentencepiece(stdlib_cfg, tmp_path):
  cfg = data_cfg(tmp_path, dataset="python_stdlib", data_dir=stdlib_cfg.data_dir,
                 vocab_size=512, spm_max_chars=200_000, seq_len=32, batch_size=4)
  tok = data.build_tokenizer(cfg, None, lambda: data.iter_texts(cfg, "train"))
  batch = next(iter(data.make_lm_dataset(cfg, tok, "train", seed=0)))
  assert batch["inputs"].shape == (4, 32) and batch["weights"].min() == 1.0
  assert tok.decode(batch["inputs"][0])  # Real text came through.


# -------------------------------------------------------------------- sources


def test_unknown_dataset_names_it(tmp_path):
  cfg = data_cfg(tmp_path, dataset="no_such_dataset_xyz")
  with pytest.raises(ValueError, match="no_such_dataset_xyz.*text_files"):
    data.get_source(cfg, "train")


def test_unprepared_catalog_dataset_says_how_to_build(tmp_path):
  cfg = data_cfg(tmp_path, dataset="tiny_shakespeare")
  with pytest.raises(ValueError, match="tfds build tiny_shakespeare --file_format=array_record"):
    data.get_source(cfg, "train")


def test_unknown_split(tmp_path):
  path = write(tmp_path / "t.txt", "a line of text\n" * 3)
  cfg = data_cfg(tmp_path, dataset="text_files", files=path)
  with pytest.raises(ValueError, match="no split 'test'"):
    data.get_source(cfg, "test")


# ------------------------------------------------------------------- packing


def toy_cfg(tmp_path, docs, **overrides):
  """text_files over one file per document, all train (one record per file)."""
  paths = [write(tmp_path / f"doc{i:03d}.txt", d) for i, d in enumerate(docs)]
  settings = dict(dataset="text_files", files=",".join(paths), val_fraction=0.0,
                  tokenizer="byte", seq_len=4, batch_size=4, shuffle_buffer=8)
  settings.update(overrides)
  return data_cfg(tmp_path, **settings)


def b(text):  # Byte-tokenizer ids.
  return [c + 3 for c in text.encode()]


def test_packing_exact_layout_with_eos_and_eval_padding(tmp_path):
  cfg = toy_cfg(tmp_path, ["ab", "cde", "fg"])
  tok = tokenizers.ByteTokenizer()
  batches = list(data.make_lm_dataset(cfg, tok, "train", seed=0, train=False))
  assert len(batches) == 1
  got = batches[0]
  a, bb, c, d, e, f, g = b("abcdefg")
  np.testing.assert_array_equal(got["inputs"], [
      [a, bb, 1, c], [d, e, 1, f], [g, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(got["targets"], [
      [bb, 1, c, d], [e, 1, f, g], [1, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(got["weights"], [
      [1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(got["segment_ids"], [
      [1, 1, 1, 2], [1, 1, 1, 2], [1, 0, 0, 0], [0, 0, 0, 0]])
  np.testing.assert_array_equal(got["positions"], [
      [0, 1, 2, 0], [0, 1, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
  assert {k: v.dtype.name for k, v in got.items()} == {
      "inputs": "int32", "targets": "int32", "weights": "float32",
      "segment_ids": "int32", "positions": "int32"}


def test_packing_without_eos_is_one_stream(tmp_path):
  cfg = toy_cfg(tmp_path, ["abc", "defghi"], add_eos=False, batch_size=2)
  got = next(iter(data.make_lm_dataset(
      cfg, tokenizers.ByteTokenizer(), "train", seed=0, train=False)))
  np.testing.assert_array_equal(got["inputs"], [b("abcd"), b("efgh")])
  np.testing.assert_array_equal(got["targets"], [b("bcde"), b("fghi")])
  np.testing.assert_array_equal(got["segment_ids"], np.ones((2, 4)))
  np.testing.assert_array_equal(got["positions"], [[0, 1, 2, 3]] * 2)


def test_strided_eval_windows_score_each_target_once_with_context(tmp_path):
  """eval_stride=1 on "abcdefghi" (seq_len 4): windows start 1 token apart; after the
  first, each scores only its last target, seen with 3 tokens of context."""
  cfg = toy_cfg(tmp_path, ["abcdefghi"], add_eos=False, batch_size=8, eval_stride=1)
  got = next(iter(data.make_lm_dataset(
      cfg, tokenizers.ByteTokenizer(), "train", seed=0, train=False)))
  windows = ["abcde", "bcdef", "cdefg", "defgh", "efghi"]
  np.testing.assert_array_equal(got["inputs"][:5], [b(w[:4]) for w in windows])
  np.testing.assert_array_equal(got["targets"][:5], [b(w[1:]) for w in windows])
  np.testing.assert_array_equal(got["weights"], [[1, 1, 1, 1]] + [[0, 0, 0, 1]] * 4
                                + [[0, 0, 0, 0]] * 3)
  np.testing.assert_array_equal(got["positions"][:5], [[0, 1, 2, 3]] * 5)
  # stride 3: windows "abcde", "defgh" (scores f, g, h), "ghi" (scores i).
  cfg.eval_stride = 3
  got = next(iter(data.make_lm_dataset(
      cfg, tokenizers.ByteTokenizer(), "train", seed=0, train=False)))
  np.testing.assert_array_equal(got["inputs"][:3], [b("abcd"), b("defg"), b("gh") + [0, 0]])
  np.testing.assert_array_equal(got["weights"][:3], [[1, 1, 1, 1], [0, 1, 1, 1], [0, 1, 0, 0]])
  assert got["weights"].sum() == len("abcdefghi") - 1


def test_eos_ends_each_file_not_each_stored_chunk(tmp_path):
  """Files longer than a record (4096 chars) are stored in chunks; EOS marks file ends."""
  line = "all work and no play makes jack a dull boy\n"
  cfg = toy_cfg(tmp_path, [line * 250, line * 120], batch_size=8, seq_len=64)
  assert len(data.get_source(cfg, "train")) > 2  # several chunks per file
  ids = [t for batch in data.make_lm_dataset(cfg, tokenizers.ByteTokenizer(), "train",
                                             seed=0, train=False)
         for t in batch["targets"][batch["weights"] > 0]]
  assert ids.count(tokenizers.EOS_ID) == 2 and ids[-1] == tokenizers.EOS_ID


def test_random_windows_are_stream_slices_fresh_per_step_and_resume_exactly(tmp_path):
  """data.random_windows: nanoGPT's get_batch, i.i.d. offsets into the train stream."""
  text = "".join(chr(ord("a") + i % 26) for i in range(500))
  cfg = toy_cfg(tmp_path, [text], add_eos=False, batch_size=4, seq_len=8,
                random_windows=True)
  tok = tokenizers.ByteTokenizer()
  stream = np.asarray(b(text))
  it = iter(data.make_lm_dataset(cfg, tok, "train", seed=0))
  batches = [next(it) for _ in range(3)]
  starts = set()
  for got in batches:
    for row_in, row_out in zip(got["inputs"], got["targets"]):
      start = int(np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(
          stream, 9)[:, :8] == row_in, axis=1))[0])
      np.testing.assert_array_equal(row_out, stream[start + 1:start + 9])
      starts.add(start)
  assert len(starts) > 6  # offsets differ across rows and steps
  state = it.get_state()
  following = next(it)
  again = iter(data.make_lm_dataset(cfg, tok, "train", seed=0))
  again.set_state(state)
  np.testing.assert_array_equal(next(again)["inputs"], following["inputs"])
  other_seed = next(iter(data.make_lm_dataset(cfg, tok, "train", seed=1)))
  assert not np.array_equal(other_seed["inputs"], batches[0]["inputs"])


def test_train_batches_cover_the_stream_and_shuffle_windows(tmp_path):
  docs = [chr(ord("A") + i) * 7 for i in range(6)]
  cfg = toy_cfg(tmp_path, docs, seq_len=4, batch_size=2, shuffle_buffer=16)
  ds = data.make_lm_dataset(cfg, tokenizers.ByteTokenizer(), "train", seed=3)
  rows = [row for batch in _take(iter(ds), 40) for row in zip(
      batch["inputs"], batch["targets"], batch["segment_ids"], batch["weights"])]
  for inputs, targets, segments, weights in rows:
    assert weights.min() == 1
    np.testing.assert_array_equal(inputs[1:], targets[:-1])  # Shifted by one.
    for i in range(3):  # A new segment starts right after each EOS.
      assert segments[i + 1] == segments[i] + (inputs[i] == 1)
  letters = {t for inputs, *_ in rows for t in inputs if t != 1}
  assert letters == {ord(d[0]) + 3 for d in docs}
  firsts = [inputs[0] for inputs, *_ in rows[:16]]
  assert len(set(firsts)) > 3  # Windows are mixed, not one document in order.


def _take(it, n):
  return [next(it) for _ in range(n)]


def _equal(batches_a, batches_b):
  return len(batches_a) == len(batches_b) and all(
      x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
      for x, y in zip(batches_a, batches_b))


def test_sharding_is_disjoint_and_covers(tmp_path):
  docs = [chr(ord("A") + i) * 5 for i in range(7)]
  cfg = toy_cfg(tmp_path, docs, seq_len=8, batch_size=2)
  tok = tokenizers.ByteTokenizer()
  seen = []
  for p in range(2):
    batches = list(data.make_lm_dataset(
        cfg, tok, "train", seed=0, process_index=p, process_count=2, train=False))
    assert all(batch["inputs"].shape == (1, 8) for batch in batches)
    stream = eval_stream(batches)
    ends = np.nonzero(np.array(stream) == tok.eos_id)[0] + 1
    seen.append([tok.decode(doc) for doc in np.split(stream, ends) if len(doc)])
    # Training reads the same shard.
    train_batches = _take(iter(data.make_lm_dataset(
        cfg, tok, "train", seed=0, process_index=p, process_count=2)), 30)
    train_letters = {tok.decode([t]) for x in train_batches for t in x["inputs"].ravel()} - {""}
    assert train_letters == {d[0] for d in seen[p]}
  assert seen[0] == docs[0::2] and seen[1] == docs[1::2]


def test_same_seed_same_batches_other_seed_differs(tmp_path):
  docs = [f"document {i} " * (i + 3) for i in range(20)]
  cfg = toy_cfg(tmp_path, docs, seq_len=16, batch_size=4, shuffle_buffer=32)
  tok = tokenizers.ByteTokenizer()
  run = lambda seed: _take(iter(data.make_lm_dataset(cfg, tok, "train", seed=seed)), 12)
  assert _equal(run(1), run(1))
  assert not _equal(run(1), run(2))


@pytest.mark.parametrize("train,skip", [(True, 0), (True, 7), (True, 61), (False, 3)])
def test_checkpoint_resumes_exactly(tmp_path, train, skip):
  docs = [f"doc {i} " * (3 * i + 1) for i in range(12)]
  cfg = toy_cfg(tmp_path, docs, seq_len=8, batch_size=4, shuffle_buffer=5)
  tok = tokenizers.ByteTokenizer()
  ds = data.make_lm_dataset(cfg, tok, "train", seed=5, train=train)
  it = iter(ds)
  _take(it, skip)
  state = json.loads(json.dumps(it.get_state()))  # A checkpoint is JSON.
  expected = _take(it, 15) if train else list(it)
  restored = iter(data.make_lm_dataset(cfg, tok, "train", seed=5, train=train))
  restored.set_state(state)
  assert _equal(expected, _take(restored, 15) if train else list(restored))


def test_bad_settings_raise(tmp_path):
  cfg = toy_cfg(tmp_path, ["abc"])
  tok = tokenizers.ByteTokenizer()
  cfg.seq_len = 0
  with pytest.raises(ValueError, match="seq_len"):
    data.make_lm_dataset(cfg, tok, "train", seed=0)
  cfg.seq_len, cfg.batch_size = 4, 6
  with pytest.raises(ValueError, match="not divisible"):
    data.make_lm_dataset(cfg, tok, "train", seed=0, process_count=4)


# ---------------------------------------------------------- tiny Shakespeare


def test_tiny_shakespeare_char_level(shared_data, tmp_path):
  path = shared_data / "tinyshakespeare" / "input.txt"
  if not path.exists():
    pytest.skip(f"{path} not found")
  original = path.read_text(encoding="utf-8")
  cfg = data_cfg(tmp_path, dataset="text_files", files=str(path), tokenizer="char",
                 add_eos=False, seq_len=64, batch_size=12)
  tok = data.build_tokenizer(cfg, str(tmp_path / "run"), lambda: data.iter_texts(cfg, "train"))
  assert tok.vocab_size == 65 + 3
  train, valid = "".join(texts(cfg, "train")), "".join(texts(cfg, "validation"))
  assert train + valid == original
  assert abs(len(valid) / len(original) - 0.1) < 0.001
  batches = list(data.make_lm_dataset(cfg, tok, "validation", seed=0, train=False))
  assert all(x["inputs"].shape == (12, 64) for x in batches)
  assert tok.decode(eval_stream(batches)) == valid
  batch = next(iter(data.make_lm_dataset(cfg, tok, "train", seed=0)))
  np.testing.assert_array_equal(batch["positions"], np.tile(np.arange(64), (12, 1)))
  records = texts(cfg, "train")
  for row in batch["inputs"]:  # A piece of train text, or two records joined.
    text = tok.decode(row)
    assert text in train or any(
        any(r.endswith(text[:k]) for r in records)
        and any(r.startswith(text[k:]) for r in records) for k in range(1, 64))


def test_stream_windows_start_at_new_offsets_each_epoch(tmp_path):
  """A continuous text (add_eos=False) is not cut into the same windows every epoch."""
  rng = np.random.default_rng(0)
  docs = ["".join(rng.choice(list("abcdefghij"), 40)) for _ in range(6)]
  tok = tokenizers.ByteTokenizer()
  windows = {}
  for offset in (False, True):
    (tmp_path / str(offset)).mkdir()
    cfg = toy_cfg(tmp_path / str(offset), docs, add_eos=False, seq_len=8, batch_size=2,
                  shuffle_buffer=1, random_offset=offset)
    batches = _take(iter(data.make_lm_dataset(cfg, tok, "train", seed=0)), 60)  # ~4 epochs
    windows[offset] = {row.tobytes() for b in batches for row in b["inputs"]}
    again = _take(iter(data.make_lm_dataset(cfg, tok, "train", seed=0)), 60)
    assert _equal(batches, again)  # still deterministic for a seed
  assert len(windows[False]) <= 30  # the same <= 30 windows every epoch
  assert len(windows[True]) > 2 * len(windows[False])


def test_text_files_split_at_a_line_start_or_mid_line_when_there_is_none():
  lines = "".join(f"line {i}\n" for i in range(100))
  cut = text_files.split_point(lines, 0.1)
  assert lines[cut - 1] == "\n" and 0.85 * len(lines) < cut < len(lines)
  one_line = "no newline in this text at all " * 30  # validation must not be empty
  assert text_files.split_point(one_line, 0.1) == int(len(one_line) * 0.9)
  assert text_files.split_point(one_line + "\n", 0.1) == int(len(one_line + "\n") * 0.9)


def test_epoch_and_window_shuffles_permute_each_epoch_and_window_and_resume():
  """data/shuffle.py: every epoch (window) is a permutation of its records (elements),
  epochs and windows differ, the same seed repeats the order, and a window iterator
  restored from its state mid-window goes on as the uninterrupted one."""
  import grain

  from data import shuffle
  records = shuffle.EpochShuffle(grain.MapDataset.range(10), seed=3).repeat()
  order = [records[i] for i in range(30)]
  epochs = [order[i:i + 10] for i in range(0, 30, 10)]
  assert all(sorted(e) == list(range(10)) for e in epochs)
  assert epochs[0] != epochs[1] != epochs[2]
  again = shuffle.EpochShuffle(grain.MapDataset.range(10), seed=3).repeat()
  assert [again[i] for i in range(30)] == order
  assert [shuffle.EpochShuffle(grain.MapDataset.range(10), seed=4)[i]
          for i in range(10)] != epochs[0]

  def windows():
    return shuffle.WindowShuffle(grain.MapDataset.range(20).to_iter_dataset(),
                                 window_size=8, seed=5)
  out = list(windows())
  assert sorted(out[:8]) == list(range(8)) and sorted(out[8:16]) == list(range(8, 16))
  assert sorted(out[16:]) == list(range(16, 20)) and out[:8] != list(range(8))
  it = iter(windows())
  head = [next(it) for _ in range(11)]
  resumed = iter(windows())
  resumed.set_state(it.get_state())
  assert head + list(resumed) == out
