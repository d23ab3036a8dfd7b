"""The embedded default corpus: this Python's standard-library `.py` sources.

It exists on every machine that can run attnlab, so the default job needs no download.
"""
import hashlib
import os
import sys
import sysconfig
from collections.abc import Iterator

import tensorflow_datasets as tfds

from data.builders.common import LocalBuilder

_EXCLUDED_DIRS = ("site-packages", "dist-packages", "__pycache__")
# Percent of files per split, chosen by a stable hash of the file's path.
_SPLIT_PERCENT = (("train", 90), ("validation", 5), ("test", 5))


def stdlib_root() -> str:
  return sysconfig.get_paths()["stdlib"]


def split_of(relative_path: str) -> str:
  """Stable split for a file: sha256 of its path relative to the stdlib root.

  Python's hash() is salted per process, so it cannot be used here.
  """
  digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
  bucket = int.from_bytes(digest[:8], "big") % 100
  for name, percent in _SPLIT_PERCENT:
    if bucket < percent:
      return name
    bucket -= percent
  raise AssertionError("split percentages must sum to 100")


def stdlib_files(root: str) -> list[str]:
  """Relative paths of the `.py` files under root, sorted, without installed packages."""
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = sorted(d for d in dirnames if d not in _EXCLUDED_DIRS)
    for name in filenames:
      if name.endswith(".py"):
        found.append(os.path.relpath(os.path.join(dirpath, name), root))
  return sorted(found)


class PythonStdlib(LocalBuilder):
  """One example per stdlib `.py` file; train/validation/test = 90/5/5 by path hash."""

  # The stdlib differs between Python versions, so each gets its own config.
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(
          name=f"py{sys.version_info.major}{sys.version_info.minor}",
          description="Standard library of the running Python version.",
      )
  ]

  FEATURES = {"text": tfds.features.Text()}
  KEEP_ORDER = False

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    root = stdlib_root()
    files = stdlib_files(root)
    return {
        name: self._generate_examples(root, [f for f in files if split_of(f) == name])
        for name, _ in _SPLIT_PERCENT
    }

  def _generate_examples(self, root: str, files: list[str]) -> Iterator[tuple[str, dict]]:
    for rel in files:
      with open(os.path.join(root, rel), "rb") as f:
        raw = f.read()
      try:
        text = raw.decode("utf-8")
      except UnicodeDecodeError:
        continue  # A few stdlib test fixtures are deliberately not UTF-8.
      if text:  # Empty __init__.py files carry nothing to learn.
        yield rel, {"text": text}
