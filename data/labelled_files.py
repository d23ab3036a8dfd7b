"""Labelled local files: GLUE-style TSV (`data.dataset = "glue_tsv"`), CoNLL (`"conll"`),
preference pairs (`"preference_jsonl"`) and prompts, one per line (`"prompt_lines"`),
parsed into memory; every error names the file and line.

data/sources.py reads their text (tokenizer training), data/finetune.py their labels.
"""
from __future__ import annotations

import json
import os
import re

LOCAL_FORMATS = ("glue_tsv", "conll", "preference_jsonl", "prompt_lines")
_SPLIT_FILES = {
    "glue_tsv": {"train": ("train.tsv",), "validation": ("dev.tsv", "validation.tsv"),
                 "test": ("test.tsv",)},
    "conll": {"train": ("train.txt",), "validation": ("valid.txt", "dev.txt", "validation.txt"),
              "test": ("test.txt",)},
}
_BIO = re.compile(r"^(O|[BI]-.+)$")
_DOCSTART = "-DOCSTART-"


def read_glue_tsv(path: str, text_column: str = "sentence",
                  label_column: str = "label") -> list[dict]:
  """GLUE-style TSV rows -> [{"text", "label"}]; a bad row names the file and line."""
  with open(path, encoding="utf-8") as f:
    lines = f.read().split("\n")
  if not lines or not lines[0].strip():
    raise ValueError(f"{path}:1: empty file; a GLUE TSV starts with a header line "
                     f"naming its columns ({text_column}, {label_column})")
  header = lines[0].rstrip("\r").split("\t")
  for name in (text_column, label_column):
    if name not in header:
      raise ValueError(f"{path}:1: no column {name!r} in the header {header}; set "
                       "data.text_key / data.label_key to the right column names")
  text_i, label_i = header.index(text_column), header.index(label_column)
  rows = []
  for lineno, line in enumerate(lines[1:], start=2):
    line = line.rstrip("\r")
    if not line:
      continue
    cols = line.split("\t")
    if len(cols) != len(header):
      raise ValueError(f"{path}:{lineno}: expected {len(header)} tab-separated columns "
                       f"({', '.join(header)}), got {len(cols)}: {line[:80]!r}")
    label = cols[label_i].strip()
    if not re.fullmatch(r"-?\d+", label):
      raise ValueError(f"{path}:{lineno}: label {label!r} is not an integer class id")
    rows.append({"text": cols[text_i].strip(), "label": int(label), "line": lineno})
  return rows


def read_conll(path: str) -> list[dict]:
  """CoNLL column file -> [{"words", "tags" (strings), "line"}], one per sentence.

  The first column is the word and the last the BIO tag; blank lines end sentences and
  `-DOCSTART-` lines are skipped.
  """
  sentences, words, tags, start = [], [], [], 0
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      cols = line.split()
      if not cols or cols[0] == _DOCSTART:
        if words:
          sentences.append({"words": words, "tags": tags, "line": start})
        words, tags = [], []
        continue
      if len(cols) < 2:
        raise ValueError(f"{path}:{lineno}: expected 'word ... TAG' (at least 2 "
                         f"whitespace-separated columns), got {line.rstrip()!r}")
      if not _BIO.match(cols[-1]):
        raise ValueError(f"{path}:{lineno}: tag {cols[-1]!r} is not BIO (O, B-X or I-X)")
      if not words:
        start = lineno
      words.append(cols[0])
      tags.append(cols[-1])
  if words:
    sentences.append({"words": words, "tags": tags, "line": start})
  return sentences


PREFERENCE_KEYS = ("prompt", "chosen", "rejected")


def read_preference_jsonl(path: str) -> list[dict]:
  """JSON lines {"prompt", "chosen", "rejected"} (strings; the prompt may be "") ->
  the same dicts plus "line"; a bad line names the file and line."""
  rows = []
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{lineno}: not a JSON object ({e.msg}): {line[:80]!r}") from None
      if not isinstance(row, dict) or any(not isinstance(row.get(k), str)
                                          for k in PREFERENCE_KEYS):
        raise ValueError(f"{path}:{lineno}: a preference line is a JSON object with string "
                         f"fields {', '.join(PREFERENCE_KEYS)}; got {line.strip()[:80]!r}")
      if not row["chosen"] or not row["rejected"]:
        raise ValueError(f"{path}:{lineno}: empty chosen or rejected response")
      rows.append({**{k: row[k] for k in PREFERENCE_KEYS}, "line": lineno})
  if not rows:
    raise ValueError(f"{path}: no preference pairs (one JSON object per line)")
  return rows


def read_prompt_lines(path: str) -> list[dict]:
  """A prompts file's non-blank lines (without the newline) -> [{"text", "line"}]."""
  with open(path, encoding="utf-8") as f:
    rows = [{"text": line.rstrip("\r\n"), "line": lineno}
            for lineno, line in enumerate(f, start=1) if line.strip()]
  if not rows:
    raise ValueError(f"{path}: no prompts (one per line)")
  return rows


def preference_file(cfg, split: str) -> str:
  """The file of `split` of a one-file-per-split format (preference_jsonl, prompt_lines):
  data.train_files / validation_files / test_files."""
  path = cfg[f"{split}_files"] if f"{split}_files" in cfg else ""
  if not path:
    raise ValueError(f"data.dataset={cfg.dataset!r} reads split {split!r} from "
                     f"data.{split}_files, which is not set")
  path = os.path.expanduser(path)
  if not os.path.isfile(path):
    raise ValueError(f"data.{split}_files={path!r} is not a file")
  return path


def split_file(cfg, split: str) -> str:
  """The local file of `split` under the directory data.files."""
  names = _SPLIT_FILES[cfg.dataset].get(split)
  if names is None:
    raise ValueError(f"data.dataset={cfg.dataset!r} has splits "
                     f"{sorted(_SPLIT_FILES[cfg.dataset])}, not {split!r}")
  directory = os.path.expanduser(cfg.files)
  if not os.path.isdir(directory):
    raise ValueError(f"data.files={cfg.files!r} must be the directory holding "
                     f"{cfg.dataset} files ({', '.join(names)} for {split})")
  for name in names:
    if os.path.isfile(os.path.join(directory, name)):
      return os.path.join(directory, name)
  raise ValueError(f"no {' or '.join(names)} in {directory} for split {split!r}")


def local_source(cfg, split: str) -> list[dict]:
  """Records of a local split with a "text" field (what tokenizer training reads)."""
  if cfg.dataset == "preference_jsonl":  # the text: both full responses, for tokenizers
    return [{**r, "text": f"{r['prompt']}{r['chosen']}\n{r['prompt']}{r['rejected']}"}
            for r in read_preference_jsonl(preference_file(cfg, split))]
  if cfg.dataset == "prompt_lines":
    return read_prompt_lines(preference_file(cfg, split))
  path = split_file(cfg, split)
  if cfg.dataset == "conll":
    return [{"text": " ".join(s["words"])} for s in read_conll(path)]
  return read_glue_tsv(path, cfg.text_key, cfg.label_key)
