"""Local dialogue files (DailyDialog's format) as a TFDS dataset: one record per dialogue.

DailyDialog (Li et al. 2017) stores one dialogue per line, each utterance ending with
` __eou__`, in `<dir>/<split>/dialogues_<split>.txt` (or `<dir>/dialogues_<split>.txt`),
splits train / validation / test. Records are {"turns": [utterance, ...]} in file order;
speakers alternate, which data/chat.py maps to user / assistant. Utterances keep the
corpus's own spacing around punctuation.
"""
import os
from collections.abc import Iterator

import tensorflow_datasets as tfds

from data.builders.common import HashedConfig, LocalBuilder

SPLITS = ("train", "validation", "test")
EOU = "__eou__"


def split_file(directory: str, split: str) -> str | None:
  """The dialogue file of `split` in a DailyDialog-style directory, or None."""
  for path in (os.path.join(directory, split, f"dialogues_{split}.txt"),
               os.path.join(directory, f"dialogues_{split}.txt")):
    if os.path.isfile(path):
      return path
  return None


def parse_line(line: str) -> list[str]:
  """Utterances of one DailyDialog line (empty ones dropped)."""
  return [u.strip() for u in line.split(EOU) if u.strip()]


def read_dialogues(path: str) -> list[list[str]]:
  """Every dialogue of a file; a dialogue of fewer than 2 utterances names its line."""
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  dialogues = []
  for lineno, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    turns = parse_line(line)
    if len(turns) < 2:
      raise ValueError(f"{path}:{lineno}: a dialogue needs at least 2 utterances ending in "
                       f"' {EOU}', got {len(turns)}: {line[:80]!r}")
    dialogues.append(turns)
  return dialogues


class DialogueFilesConfig(HashedConfig):
  """A dialogue directory; the name hashes its split files' paths, sizes and mtimes."""

  def __init__(self, *, directory: str):
    directory = os.path.abspath(os.path.expanduser(directory))
    files = {s: split_file(directory, s) for s in SPLITS}
    files = {s: p for s, p in files.items() if p}
    if "train" not in files:
      raise ValueError(f"dialogue_files: no train split in {directory}; expected "
                       "train/dialogues_train.txt (DailyDialog layout) or dialogues_train.txt")
    stats = {s: [p, os.stat(p).st_size, os.stat(p).st_mtime_ns] for s, p in files.items()}
    super().__init__(stats)
    self.files = files


class DialogueFiles(LocalBuilder):
  """Dialogues of local DailyDialog-style files, one record per dialogue."""

  BUILDER_CONFIG_CLASS = DialogueFilesConfig

  FEATURES = {"turns": tfds.features.Sequence(tfds.features.Text())}

  def _split_generators(self, dl_manager):
    del dl_manager  # local files only
    return {split: self._generate_examples(path)
            for split, path in self.builder_config.files.items()}

  def _generate_examples(self, path: str) -> Iterator[tuple[int, dict]]:
    for key, turns in enumerate(read_dialogues(path)):
      yield key, {"turns": turns}


def dialogue_files_builder(directory: str, data_dir: str) -> DialogueFiles:
  """A DialogueFiles builder for `directory` (config.data.files)."""
  if not directory or not os.path.isdir(os.path.expanduser(directory)):
    raise ValueError(f"dialogue_files: data.files={directory!r} is not a directory; give "
                     "the folder holding DailyDialog-style dialogues_<split>.txt files")
  return DialogueFiles(config=DialogueFilesConfig(directory=directory), data_dir=data_dir)
