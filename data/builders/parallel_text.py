"""Aligned local text files as a translation dataset (Multi30k-style), records {source, target}.

A split is two UTF-8 files, one sentence per line, line i of one aligned with line i of
the other (`train.en` / `train.de`). Given as "src_path,tgt_path" or a brace pattern
"dir/train.{en,de}" (source first). Policies:
- different line counts: ValueError naming both files and their counts (nothing is
  guessed about which lines belong together);
- empty lines: a pair where either side is empty or only whitespace is DROPPED (an empty
  source or reference teaches nothing and breaks BLEU); how many is logged as a warning. Surrounding whitespace (and "\r") of each line is stripped.
"""
import os
import re
from collections.abc import Iterator

import tensorflow_datasets as tfds
from absl import logging

from data.builders.common import HashedConfig, LocalBuilder
from data.builders.text_files import read_utf8

SPLITS = ("train", "validation", "test")


def expand_pair(spec: str, what: str) -> tuple[str, str]:
  """(source, target) absolute paths of "a,b" or "prefix.{x,y}"; ValueError if missing."""
  spec = spec.strip()
  brace = re.fullmatch(r"(.*)\{([^{},]+),([^{},]+)\}(.*)", spec)
  if brace:
    pre, a, b, post = brace.groups()
    paths = [pre + a + post, pre + b + post]
  else:
    paths = [p.strip() for p in spec.split(",") if p.strip()]
  if len(paths) != 2:
    raise ValueError(f"data.{what}={spec!r}: give two aligned files, source first, as "
                     "'src_path,tgt_path' or 'dir/train.{en,de}'")
  paths = [os.path.abspath(os.path.expanduser(p)) for p in paths]
  for p in paths:
    if not os.path.isfile(p):
      raise ValueError(f"data.{what}: no file {p}")
  return paths[0], paths[1]


def read_aligned(source_path: str, target_path: str) -> tuple[list[tuple[str, str]], int]:
  """Aligned (source, target) line pairs and how many pairs with an empty side were dropped."""
  src = read_utf8(source_path).splitlines()
  tgt = read_utf8(target_path).splitlines()
  if len(src) != len(tgt):
    raise ValueError(
        f"parallel files are not aligned: {source_path} has {len(src)} lines but "
        f"{target_path} has {len(tgt)}; each line of one must translate the same line "
        "of the other")
  pairs, dropped = [], 0
  for s, t in zip(src, tgt):
    s, t = s.strip(), t.strip()
    if s and t:
      pairs.append((s, t))
    else:
      dropped += 1
  if dropped:
    logging.warning("%s / %s: dropped %d line pairs with an empty side", source_path,
                    target_path, dropped)
  if not pairs:
    raise ValueError(f"{source_path} / {target_path}: no line pair with text on both sides")
  return pairs, dropped


def _fingerprint(files: dict) -> dict:
  out = {}
  for split, paths in files.items():
    out[split] = [{"path": p, "size": os.stat(p).st_size, "mtime_ns": os.stat(p).st_mtime_ns}
                  for p in paths]
  return out


class ParallelTextConfig(HashedConfig):
  """Split -> (source file, target file); the name is a hash of paths, sizes and mtimes."""

  def __init__(self, *, files: dict):
    if "train" not in files:
      raise ValueError("parallel_text needs data.train_files")
    fingerprint = _fingerprint(files)
    super().__init__(fingerprint)
    self.files = files


class ParallelText(LocalBuilder):
  """Sentence pairs of aligned local files, in file order."""

  BUILDER_CONFIG_CLASS = ParallelTextConfig

  FEATURES = {"source": tfds.features.Text(), "target": tfds.features.Text()}

  def _split_generators(self, dl_manager):
    del dl_manager  # Local files only.
    return {split: self._generate_examples(*paths)
            for split, paths in self.builder_config.files.items()}

  def _generate_examples(self, source_path: str, target_path: str
                         ) -> Iterator[tuple[int, dict]]:
    pairs, _ = read_aligned(source_path, target_path)
    for i, (s, t) in enumerate(pairs):
      yield i, {"source": s, "target": t}


def parallel_text_builder(cfg, data_dir: str) -> ParallelText:
  """The builder for config.data's train/validation/test file pairs; checks them first."""
  files = {}
  for split in SPLITS:
    spec = cfg.get(f"{split}_files", "")
    if spec:
      files[split] = expand_pair(spec, f"{split}_files")
  builder = ParallelText(config=ParallelTextConfig(files=files), data_dir=data_dir)
  if not builder.is_prepared():  # fail before TFDS starts writing
    for paths in files.values():
      read_aligned(*paths)
  return builder
