"""Hugging Face tokenizer files behind attnlab's Tokenizer interface (data/tokenizers.py).

GPT-2/RoBERTa byte-level BPE and BERT WordPiece run through the `tokenizers` package
(tokenizer.json, or vocab.json + merges.txt, or vocab.txt); T5's SentencePiece
(spiece.model) through `sentencepiece`. Unlike attnlab's own tokenizers, the special ids are
the checkpoint's (GPT-2's <|endoftext|> is 50256), so they are read from the files and kept
in attnlab's tokenizer.json; a converted model sees exactly the ids it was trained on.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Optional, Sequence

import numpy as np

FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
         "merges.txt", "vocab.txt", "spiece.model", "added_tokens.json")
SUBDIR = "hf"  # <workdir>/tokenizer/hf/ holds the HF files (their tokenizer.json is not ours)
_ROLES = ("bos", "eos", "pad", "unk", "cls", "sep", "mask")


def has_tokenizer(directory: str) -> bool:
  names = ("tokenizer.json", "vocab.json", "vocab.txt", "spiece.model")
  return any(os.path.exists(os.path.join(directory, n)) for n in names)


class HFTokenizer:
  """encode/decode with the checkpoint's own vocabulary and special ids."""

  kind = "hf"

  def __init__(self, directory: str, specials: Optional[dict] = None,
               model_config: Optional[dict] = None):
    if not has_tokenizer(directory):
      raise ValueError(
          f"{directory} has no Hugging Face tokenizer files (tokenizer.json, vocab.json + "
          "merges.txt, vocab.txt or spiece.model); save one with tokenizer.save_pretrained(DIR)")
    self.directory = directory
    self._sp = self._tok = None
    if os.path.exists(os.path.join(directory, "tokenizer.json")):
      from tokenizers import Tokenizer
      self._tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    elif os.path.exists(os.path.join(directory, "vocab.json")):
      self._tok = _byte_level_bpe(directory)
    elif os.path.exists(os.path.join(directory, "vocab.txt")):
      self._tok = _wordpiece(directory)
    else:
      import sentencepiece as spm
      self._sp = spm.SentencePieceProcessor(
          model_file=os.path.join(directory, "spiece.model"))
    self.vocab_size = (self._sp.get_piece_size() if self._sp is not None
                       else self._tok.get_vocab_size(with_added_tokens=True))
    self.specials = specials or self._find_specials(model_config or {})
    s = self.specials
    self.bos_id = s["bos"] if s.get("bos") is not None else s.get("cls")
    self.eos_id = s["eos"] if s.get("eos") is not None else s.get("sep")
    self.pad_id = s["pad"] if s.get("pad") is not None else self.eos_id
    self.cls_id = s["cls"] if s.get("cls") is not None else self.bos_id
    self.sep_id = s["sep"] if s.get("sep") is not None else self.eos_id
    self.mask_id = s.get("mask")
    if self.bos_id is None:  # T5 has no BOS; its decoder starts from pad
      self.bos_id = self.pad_id
    if self.eos_id is None or self.pad_id is None:
      raise ValueError(f"{directory}: found no EOS/SEP or PAD token among {s}; add eos_token "
                       "to tokenizer_config.json")

  def _token_id(self, token: str) -> Optional[int]:
    if self._sp is not None:
      i = self._sp.piece_to_id(token)
      return None if i == self._sp.unk_id() and token != self._sp.id_to_piece(i) else i
    return self._tok.token_to_id(token)

  def _find_specials(self, model_config: dict) -> dict:
    """Role -> id from tokenizer_config.json / special_tokens_map.json, else config.json."""
    tokens = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
      path = os.path.join(self.directory, name)
      if os.path.exists(path):
        with open(path) as f:
          data = json.load(f)
        for role in _ROLES:
          value = data.get(f"{role}_token")
          value = value.get("content") if isinstance(value, dict) else value
          if isinstance(value, str):
            tokens.setdefault(role, value)
    specials = {role: self._token_id(tok) for role, tok in tokens.items()}
    if self._sp is not None:
      specials.setdefault("pad", self._sp.pad_id() if self._sp.pad_id() >= 0 else None)
      specials.setdefault("eos", self._sp.eos_id() if self._sp.eos_id() >= 0 else None)
    for role in ("bos", "eos", "pad"):
      if specials.get(role) is None and model_config.get(f"{role}_token_id") is not None:
        specials[role] = model_config[f"{role}_token_id"]
    return {k: v for k, v in specials.items() if v is not None}

  def encode_array(self, text: str) -> np.ndarray:
    return np.asarray(self.encode(text), dtype=np.int32)

  def encode(self, text: str) -> list[int]:
    """Ids of text without added specials (the pipeline adds BOS/EOS/CLS/SEP itself)."""
    if self._sp is not None:
      return self._sp.encode(text)
    return self._tok.encode(text, add_special_tokens=False).ids

  def decode(self, ids: Sequence[int]) -> str:
    """Text of ids without special tokens; ids past the vocabulary are dropped."""
    ids = [i for i in np.asarray(ids, dtype=np.int64).reshape(-1).tolist()
           if 0 <= i < self.vocab_size]
    if self._sp is not None:
      specials = set(self.specials.values())
      return self._sp.decode([i for i in ids if i not in specials])
    return self._tok.decode(ids, skip_special_tokens=True)

  def save(self, directory: str) -> None:
    """attnlab's tokenizer.json (kind + special ids) and the HF files under hf/."""
    target = os.path.join(directory, SUBDIR)
    os.makedirs(target, exist_ok=True)
    for name in FILES:
      if os.path.exists(os.path.join(self.directory, name)):
        shutil.copyfile(os.path.join(self.directory, name), os.path.join(target, name))
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as f:
      json.dump({"kind": self.kind, "files": SUBDIR, "specials": self.specials}, f, indent=1)

  def save_hf(self, directory: str) -> None:
    """The HF files alone (an export next to config.json + model.safetensors)."""
    os.makedirs(directory, exist_ok=True)
    for name in FILES:
      if os.path.exists(os.path.join(self.directory, name)):
        shutil.copyfile(os.path.join(self.directory, name), os.path.join(directory, name))

  @classmethod
  def load(cls, directory: str, config: dict) -> "HFTokenizer":
    """The tokenizer `save` wrote in directory (config: its tokenizer.json)."""
    return cls(os.path.join(directory, config.get("files", SUBDIR)), config.get("specials"))


def _byte_level_bpe(directory: str):
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers
  tok = Tokenizer(models.BPE.from_file(os.path.join(directory, "vocab.json"),
                                       os.path.join(directory, "merges.txt")))
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  return tok


def _wordpiece(directory: str):
  from tokenizers.implementations import BertWordPieceTokenizer
  lower = True
  path = os.path.join(directory, "tokenizer_config.json")
  if os.path.exists(path):
    with open(path) as f:
      lower = json.load(f).get("do_lower_case", True)
  return BertWordPieceTokenizer(os.path.join(directory, "vocab.txt"), lowercase=lower)
