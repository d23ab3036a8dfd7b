"""Local UTF-8 text files as a TFDS dataset (the nanoGPT tiny-Shakespeare recipe).

Either fixed splits (files given per split: train, validation, test, any of them) or one
set of files cut by position: each file's first `1 - val_fraction` of characters is train
and the rest validation, the cut moved forward to the next line start, so validation
begins on a fresh line.
Each split is stored as records of whole lines of at most `_CHUNK_CHARS` characters
(a longer line is cut), so record shuffling and per-process sharding have something
to work on; the records of a split, in order, concatenate back to its text exactly.
`ends_file` marks each file's last record: data.add_eos puts EOS there, not after every
chunk.
"""
import glob
import os
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from data.builders.common import HashedConfig, LocalBuilder

_CHUNK_CHARS = 4096
_SPLITS = ("train", "validation")
FIXED_SPLITS = ("train", "validation", "test")


def expand_files(files: str | Sequence[str]) -> list[str]:
  """Absolute paths from comma-separated paths/globs; ValueError if any matches nothing."""
  if isinstance(files, str):
    files = [f for f in (part.strip() for part in files.split(",")) if f]
  if not files:
    raise ValueError("text_files: no files given; set config.data.files to paths or globs.")
  paths, missing = [], []
  for pattern in files:
    matches = sorted(glob.glob(os.path.expanduser(pattern)))
    matches = [m for m in matches if os.path.isfile(m)]
    if not matches:
      missing.append(pattern)
    paths.extend(os.path.abspath(m) for m in matches)
  if missing:
    raise ValueError(f"text_files: no file matches {missing}.")
  return list(dict.fromkeys(paths))  # Drop repeats, keep order.


def read_utf8(path: str) -> str:
  """The file's text; a clear ValueError if it has no text (empty or whitespace) or is
  not UTF-8."""
  with open(path, "rb") as f:
    raw = f.read()
  try:
    text = raw.decode("utf-8")
  except UnicodeDecodeError as e:
    raise ValueError(
        f"text_files: {path} is not valid UTF-8 (byte offset {e.start}: {e.reason}). "
        "Convert it to UTF-8 first, e.g. `iconv -f latin1 -t utf-8`."
    ) from None
  if not text.strip():
    raise ValueError(f"text_files: {path} has no text (it is empty or only whitespace, "
                     f"{len(text)} characters); point data.files at files with text.")
  return text


def split_point(text: str, val_fraction: float) -> int:
  """Index where validation starts: the first line start at or after the char cut, or
  the cut itself when no line starts after it (a one-line file still gets validation)."""
  cut = int(len(text) * (1.0 - val_fraction))
  if cut <= 0 or cut >= len(text):
    return cut
  if text[cut - 1] == "\n":
    return cut
  newline = text.find("\n", cut)
  return cut if newline < 0 or newline + 1 == len(text) else newline + 1


def chunk_lines(text: str, max_chars: int = _CHUNK_CHARS) -> Iterator[str]:
  """Contiguous pieces of whole lines, each at most max_chars (long lines are cut)."""
  start = 0
  while start < len(text):
    end = min(start + max_chars, len(text))
    if end < len(text):
      newline = text.rfind("\n", start, end)
      if newline >= 0:
        end = newline + 1
    yield text[start:end]
    start = end


def _file_stats(paths: list[str]) -> list[dict]:
  return [{"path": p, "size": os.stat(p).st_size, "mtime_ns": os.stat(p).st_mtime_ns}
          for p in paths]


def _fingerprint(paths: list[str], val_fraction: float) -> dict:
  """What the prepared data depends on; a changed file gives a new config name."""
  return {"files": _file_stats(paths), "val_fraction": val_fraction,
          "chunk_chars": _CHUNK_CHARS, "features": sorted(TextFiles.FEATURES)}


class TextFilesConfig(HashedConfig):
  """Files + val_fraction, or files per split; the name hashes paths, sizes and mtimes."""

  def __init__(self, *, paths: Sequence[str] = (), val_fraction: float = 0.0,
               split_paths: dict[str, list[str]] | None = None):
    if not 0.0 <= val_fraction < 1.0:
      raise ValueError(f"text_files: val_fraction must be in [0, 1), got {val_fraction}.")
    if split_paths:
      fingerprint = {"splits": {k: _file_stats(v) for k, v in split_paths.items()},
                     "chunk_chars": _CHUNK_CHARS, "features": sorted(TextFiles.FEATURES)}
    else:
      fingerprint = _fingerprint(list(paths), val_fraction)
    super().__init__(fingerprint)
    self.paths = list(paths)
    self.val_fraction = val_fraction
    self.split_paths = dict(split_paths or {})


class TextFiles(LocalBuilder):
  """Text of local files, split train/validation by position within each file."""

  BUILDER_CONFIG_CLASS = TextFilesConfig

  # ends_file: the record is its file's last chunk, so data.add_eos puts EOS there only.
  FEATURES = {"text": tfds.features.Text(), "ends_file": tfds.features.Scalar(np.bool_)}

  def _split_generators(self, dl_manager):
    del dl_manager  # Local files only.
    if self.builder_config.split_paths:
      return {split: self._generate_examples([read_utf8(p) for p in paths])
              for split, paths in self.builder_config.split_paths.items()}
    parts = {split: [] for split in _SPLITS}
    for path in self.builder_config.paths:
      text = read_utf8(path)
      cut = split_point(text, self.builder_config.val_fraction)
      parts["train"].append(text[:cut])
      parts["validation"].append(text[cut:])
    vf = self.builder_config.val_fraction
    for split, texts in parts.items():
      if (split == "train" or vf > 0) and not "".join(texts).strip():
        part, change = ("first 1 -", "lower") if split == "train" else ("last", "raise")
        raise ValueError(
            f"text_files: the {split} split of {self.builder_config.paths} has no text, "
            f"only {sum(map(len, texts))} whitespace characters (the {part} "
            f"data.val_fraction={vf} of each file); give longer files or {change} "
            "data.val_fraction.")
    # TFDS cannot write an empty split, so a split with no text is left out.
    return {
        split: self._generate_examples(texts)
        for split, texts in parts.items()
        if any(texts)
    }

  def _generate_examples(self, texts: list[str]) -> Iterator[tuple[int, dict]]:
    key = 0  # Integer keys + disable_shuffling keep records in text order.
    for text in texts:
      chunks = list(chunk_lines(text))
      for i, chunk in enumerate(chunks):
        yield key, {"text": chunk, "ends_file": i == len(chunks) - 1}
        key += 1


def text_files_builder(
    files: str | Sequence[str], val_fraction: float, data_dir: str,
    split_files: dict[str, str] | None = None,
) -> TextFiles:
  """A TextFiles builder for `files` cut by val_fraction, or for fixed splits
  (split_files: split -> comma-separated paths/globs; empty values are left out).
  Checks the files first to fail early on bad input."""
  split_files = {k: v for k, v in (split_files or {}).items() if v}
  if split_files and files:
    raise ValueError(f"text_files: data.files={files!r} and data.{'/'.join(split_files)}_files "
                     "both given; use data.files (cut by data.val_fraction) or fixed "
                     "splits (data.train_files, data.validation_files, data.test_files)")
  if split_files:
    split_paths = {k: expand_files(v) for k, v in split_files.items()}
    config = TextFilesConfig(split_paths=split_paths)
    paths = [p for v in split_paths.values() for p in v]
  else:
    paths = expand_files(files)
    config = TextFilesConfig(paths=paths, val_fraction=val_fraction)
  builder = TextFiles(config=config, data_dir=data_dir)
  if not builder.is_prepared():  # Prepared data was checked when it was written.
    for p in paths:
      read_utf8(p)
  return builder
