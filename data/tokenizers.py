"""Tokenizers: byte, char, word and SentencePiece, with the same ids for the specials.

Every tokenizer uses pad 0, eos 1, bos 2, so batches and models need not care which
one a run uses. Encoders read bos as [CLS] and eos as [SEP] (RoBERTa's <s> and </s>);
`data.mask_token=True` appends one [MASK] id after the vocabulary (`WithMaskToken`). A run's tokenizer is saved in `<workdir>/tokenizer/` and loaded from
there on resume, so a resumed run never retrains a (possibly different) vocabulary.
"""
import collections
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import sentencepiece as spm

PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
_NUM_SPECIALS = 3
_CONFIG_FILE = "tokenizer.json"
_SPM_FILE = "spm.model"
KINDS = ("sentencepiece", "byte", "char", "word", "hf")  # hf: data/hf_tokenizer.py


@runtime_checkable
class Tokenizer(Protocol):
  """What the pipeline, the model and sampling need from a tokenizer."""

  kind: str
  vocab_size: int
  pad_id: int
  eos_id: int
  bos_id: int

  def encode(self, text: str) -> list[int]:
    ...

  def decode(self, ids: Sequence[int]) -> str:
    ...

  def save(self, directory: str) -> None:
    ...


def encode_array(tokenizer: Tokenizer, text: str) -> np.ndarray:
  """int32 ids of text; uses a tokenizer's vectorised path when it has one."""
  fast = getattr(tokenizer, "encode_array", None)
  if fast is not None:
    return fast(text)
  return np.asarray(tokenizer.encode(text), dtype=np.int32)


def unknown_chars(tokenizer: Tokenizer, texts: Callable[[], Iterable[str]]) -> str:
  """The characters of texts() a char tokenizer has no id for, sorted; "" without reading
  any text for the other kinds (byte and SentencePiece, with byte fallback, encode all)."""
  if tokenizer.kind != "char":
    return ""
  while hasattr(tokenizer, "inner"):  # WithSpecialTokens wrappers
    tokenizer = tokenizer.inner
  seen = set()
  for text in texts():
    seen.update(text)
  return "".join(sorted(seen.difference(tokenizer.chars)))


def _write_config(directory: str, config: dict) -> None:
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, _CONFIG_FILE), "w", encoding="utf-8") as f:
    json.dump(config, f, ensure_ascii=False, indent=1)


class _Specials:
  """The shared special ids; decode drops them."""

  pad_id = PAD_ID
  eos_id = EOS_ID
  bos_id = BOS_ID
  cls_id = BOS_ID
  sep_id = EOS_ID
  mask_id = None  # only WithMaskToken has one

  def _content_ids(self, ids: Sequence[int]) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    return ids[ids >= _NUM_SPECIALS]


class ByteTokenizer(_Specials):
  """UTF-8 bytes at ids 3..258: needs no training and encodes any text."""

  kind = "byte"
  vocab_size = 256 + _NUM_SPECIALS

  def encode_array(self, text: str) -> np.ndarray:
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return raw.astype(np.int32) + _NUM_SPECIALS

  def encode(self, text: str) -> list[int]:
    return self.encode_array(text).tolist()

  def decode(self, ids: Sequence[int]) -> str:
    """Bytes back to text; invalid UTF-8 and ids past the vocab become U+FFFD."""
    ids = self._content_ids(ids)
    raw = np.where(ids < self.vocab_size, ids - _NUM_SPECIALS, 0xFF).astype(np.uint8)
    return raw.tobytes().decode("utf-8", errors="replace")

  def save(self, directory: str) -> None:
    _write_config(directory, {"kind": self.kind})


class CharTokenizer(_Specials):
  """One id per character seen in the training text (nanoGPT's char level)."""

  kind = "char"

  def __init__(self, chars: Iterable[str]):
    chars = sorted(set(chars))
    if not chars:
      raise ValueError("CharTokenizer: no characters; the training text is empty.")
    if any(len(c) != 1 for c in chars):
      raise ValueError("CharTokenizer: chars must be single characters.")
    self.chars = chars
    self.vocab_size = len(chars) + _NUM_SPECIALS
    self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)  # Sorted.

  @classmethod
  def train(cls, texts: Iterable[str]) -> "CharTokenizer":
    seen = set()
    for text in texts:
      seen.update(text)
    return cls(seen)

  def encode_array(self, text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    index = np.searchsorted(self._codes, codes)
    index_clipped = np.minimum(index, len(self._codes) - 1)
    unseen = self._codes[index_clipped] != codes
    if unseen.any():
      char = chr(int(codes[np.argmax(unseen)]))
      raise ValueError(
          f"CharTokenizer: character {char!r} (U+{ord(char):04X}) was not in the "
          "training text; use tokenizer='byte' or 'sentencepiece' for open text."
      )
    return index.astype(np.int32) + _NUM_SPECIALS

  def encode(self, text: str) -> list[int]:
    return self.encode_array(text).tolist()

  def decode(self, ids: Sequence[int]) -> str:
    """Characters of ids; ids past the vocab (a padded model vocab) become U+FFFD."""
    chars = self.chars
    return "".join(
        chars[i - _NUM_SPECIALS] if i < self.vocab_size else "\ufffd"
        for i in self._content_ids(ids).tolist()
    )

  def save(self, directory: str) -> None:
    _write_config(directory, {"kind": self.kind, "chars": "".join(self.chars)})


class WordTokenizer(_Specials):
  """Whitespace-separated words, the word-level LM convention (Mikolov's PTB, Zaremba et al.).

  Every line ends in EOS (`<eos>`); a word outside the vocabulary is `<unk>` (id 3, so
  PTB's literal `<unk>` is the same id). decode joins words with spaces and EOS with
  newlines, so decode(encode(t)) == t for single-spaced text of known words.
  """

  kind = "word"
  UNK = "<unk>"
  unk_id = _NUM_SPECIALS

  def __init__(self, words: Iterable[str]):
    words = [w for w in dict.fromkeys(words) if w != self.UNK]
    if any(not w or w.split() != [w] for w in words):
      raise ValueError("WordTokenizer: words must be non-empty and contain no whitespace.")
    self.words = [self.UNK] + words
    self.vocab_size = len(self.words) + _NUM_SPECIALS
    self._ids = {w: i + _NUM_SPECIALS for i, w in enumerate(self.words)}

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int = 0) -> "WordTokenizer":
    """The most frequent words of texts (ties: first seen first), so that the vocabulary
    holds at most vocab_size ids in all (specials and <unk> included); 0: every word."""
    counts = collections.Counter(w for text in texts for w in text.split())
    if not counts:
      raise ValueError("WordTokenizer: no words in the training text.")
    if vocab_size and vocab_size < _NUM_SPECIALS + 2:
      raise ValueError(f"data.vocab_size={vocab_size} leaves no room for words (the word "
                       f"tokenizer has {_NUM_SPECIALS + 1} special ids); use 0 for every word")
    keep = vocab_size - _NUM_SPECIALS - 1 if vocab_size else len(counts)
    return cls(w for w, _ in counts.most_common(keep + (cls.UNK in counts)))

  def encode_array(self, text: str) -> np.ndarray:
    ids = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
      ids += [self._ids.get(w, self.unk_id) for w in line.split()]
      if i < len(lines) - 1:  # a line ended by a newline
        ids.append(EOS_ID)
    return np.asarray(ids, np.int32)

  def encode(self, text: str) -> list[int]:
    return self.encode_array(text).tolist()

  def decode(self, ids: Sequence[int]) -> str:
    """Words of ids joined by spaces, EOS as a newline; ids past the vocab are U+FFFD."""
    lines, line = [], []
    for i in np.asarray(ids, np.int64).reshape(-1).tolist():
      if i == EOS_ID:
        lines.append(" ".join(line))
        line = []
      elif i >= _NUM_SPECIALS:
        line.append(self.words[i - _NUM_SPECIALS] if i < self.vocab_size else "\ufffd")
    return "\n".join(lines + [" ".join(line)])

  def save(self, directory: str) -> None:
    _write_config(directory, {"kind": self.kind, "words": self.words})


class SentencePieceTokenizer(_Specials):
  """A SentencePiece model (bpe or unigram) trained on the run's training split.

  Identity normalisation, no dummy prefix and byte fallback make decode(encode(t)) == t
  for any text, which code corpora (indentation, rare symbols) need.
  """

  kind = "sentencepiece"

  def __init__(self, model_proto: bytes):
    self.model_proto = model_proto
    self._sp = spm.SentencePieceProcessor(model_proto=model_proto)
    self.vocab_size = self._sp.get_piece_size()
    if (self._sp.pad_id(), self._sp.eos_id(), self._sp.bos_id()) != (PAD_ID, EOS_ID, BOS_ID):
      raise ValueError("SentencePiece model must use pad 0, eos 1, bos 2.")

  @classmethod
  def train(
      cls,
      texts: Iterable[str],
      *,
      vocab_size: int,
      model_type: str = "bpe",
      max_chars: int = 5_000_000,
  ) -> "SentencePieceTokenizer":
    """Trains deterministically: same texts and settings give the same model."""
    if model_type not in ("bpe", "unigram"):
      raise ValueError(f"spm_model_type must be 'bpe' or 'unigram', got {model_type!r}.")
    lines = list(_training_lines(texts, max_chars))
    if not lines:
      raise ValueError("SentencePiece: no training text.")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,  # A small corpus may not support the full size.
        character_coverage=1.0,
        byte_fallback=True,
        pad_id=PAD_ID,
        eos_id=EOS_ID,
        bos_id=BOS_ID,
        unk_id=3,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=False,
        allow_whitespace_only_pieces=True,
        split_digits=True,
        max_sentence_length=1 << 16,
        input_sentence_size=0,  # Use every line given; max_chars bounds them.
        shuffle_input_sentence=False,
        num_threads=1,  # One thread: identical models across runs and machines.
        minloglevel=2,
    )
    return cls(model.getvalue())

  def encode_array(self, text: str) -> np.ndarray:
    return np.asarray(self._sp.encode(text), dtype=np.int32)

  def encode(self, text: str) -> list[int]:
    return self._sp.encode(text)

  def decode(self, ids: Sequence[int]) -> str:
    """Text of ids; ids past the vocab (a padded model vocab) become U+FFFD."""
    out, run = [], []
    for i in self._content_ids(ids).tolist():
      if i < self.vocab_size:
        run.append(i)
      else:
        out += [self._sp.decode(run), "\ufffd"]
        run = []
    out.append(self._sp.decode(run))
    return "".join(out)

  def save(self, directory: str) -> None:
    _write_config(directory, {"kind": self.kind, "model": _SPM_FILE})
    with open(os.path.join(directory, _SPM_FILE), "wb") as f:
      f.write(self.model_proto)


class WithSpecialTokens:
  """A tokenizer plus named special tokens at ids right after its vocabulary.

  Appending keeps every existing id (and saved GPT tokenizers) unchanged; `config_key`
  is saved in tokenizer.json, so a reloaded run gets the same vocabulary back. decode
  drops the appended ids (or names them). Subclasses name the tokens ([MASK], chat
  roles, T5 sentinels).
  """
  names: tuple = ()
  config_key: str = ""
  names_in_text = False  # decode writes appended tokens by name instead of dropping them

  def __init__(self, inner: Tokenizer):
    self.inner = inner
    self.kind = inner.kind
    self.vocab_size = inner.vocab_size + len(self.names)
    self.special_ids = {name: inner.vocab_size + i for i, name in enumerate(self.names)}
    self.mask_id = getattr(inner, "mask_id", None)
    self.pad_id, self.eos_id, self.bos_id = inner.pad_id, inner.eos_id, inner.bos_id
    self.cls_id, self.sep_id = inner.cls_id, inner.sep_id

  def encode_array(self, text: str) -> np.ndarray:
    return encode_array(self.inner, text)

  def encode(self, text: str) -> list[int]:
    return self.inner.encode(text)

  def decode(self, ids: Sequence[int]) -> str:
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not self.names_in_text:
      return self.inner.decode(ids[(ids < self.inner.vocab_size) | (ids >= self.vocab_size)])
    out, start = [], 0
    appended = (ids >= self.inner.vocab_size) & (ids < self.vocab_size)
    for j in np.flatnonzero(appended).tolist() + [len(ids)]:
      out.append(self.inner.decode(ids[start:j]))
      if j < len(ids):
        out.append(self.names[int(ids[j]) - self.inner.vocab_size])
      start = j + 1
    return "".join(out)

  def saved_value(self) -> Any:
    """What tokenizer.json records under config_key to rebuild this wrapper."""
    return True

  def save(self, directory: str) -> None:
    self.inner.save(directory)
    with open(os.path.join(directory, _CONFIG_FILE), encoding="utf-8") as f:
      config = json.load(f)
    _write_config(directory, dict(config, **{self.config_key: self.saved_value()}))


class WithMaskToken(WithSpecialTokens):
  """One [MASK] id after the vocabulary, for masked-LM objectives (data.mask_token)."""
  names = ("[MASK]",)
  config_key = "mask_token"

  def __init__(self, inner: Tokenizer):
    super().__init__(inner)
    self.mask_id = self.special_ids["[MASK]"]


class WithChatTokens(WithSpecialTokens):
  """Role markers and an end-of-turn id for dialogues (data.chat_tokens; data/chat.py)."""
  names = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
  config_key = "chat_tokens"

  def role_id(self, role: str) -> int:
    if f"<|{role}|>" not in self.special_ids:
      raise ValueError(f"unknown chat role {role!r}; use system, user or assistant")
    return self.special_ids[f"<|{role}|>"]

  @property
  def end_id(self) -> int:
    return self.special_ids["<|end|>"]


class WithSentinels(WithSpecialTokens):
  """A tokenizer plus T5's sentinels `<extra_id_i>` at ids vocab_size - 1 - i (the top).

  Like WithMaskToken, appending keeps every existing id; the count is saved in
  tokenizer.json. decode shows a sentinel as `<extra_id_i>`.
  """
  config_key = "num_sentinels"
  names_in_text = True

  def __init__(self, inner: Tokenizer, num_sentinels: int):
    if num_sentinels <= 0:
      raise ValueError(f"data.num_sentinels must be positive, got {num_sentinels}")
    self.names = tuple(f"<extra_id_{num_sentinels - 1 - k}>" for k in range(num_sentinels))
    super().__init__(inner)
    self.num_sentinels = num_sentinels
    self.sentinel_ids = tuple(self.vocab_size - 1 - i for i in range(num_sentinels))

  def saved_value(self) -> int:
    return self.num_sentinels


def _training_lines(texts: Iterable[str], max_chars: int):
  """Non-empty lines of texts, in order, until max_chars characters were given.

  SentencePiece reads sentences, and skips long ones, so documents go in line by line.
  """
  budget = max_chars
  for text in texts:
    for line in text.splitlines():
      if not line:
        continue
      if budget <= 0:
        return
      line = line[:budget]
      budget -= len(line)
      yield line


def load_tokenizer(directory: str) -> Tokenizer:
  """The tokenizer saved in directory by `Tokenizer.save`."""
  path = os.path.join(directory, _CONFIG_FILE)
  if not os.path.exists(path):
    raise ValueError(f"No tokenizer at {directory}: {_CONFIG_FILE} is missing.")
  with open(path, encoding="utf-8") as f:
    config = json.load(f)
  kind = config.get("kind")
  if kind == "byte":
    tokenizer = ByteTokenizer()
  elif kind == "char":
    tokenizer = CharTokenizer(config["chars"])
  elif kind == "word":
    tokenizer = WordTokenizer(config["words"])
  elif kind == "sentencepiece":
    with open(os.path.join(directory, config["model"]), "rb") as f:
      tokenizer = SentencePieceTokenizer(f.read())
  elif kind == "hf":
    from data import hf_tokenizer
    tokenizer = hf_tokenizer.HFTokenizer.load(directory, config)
  else:
    raise ValueError(f"{path}: unknown tokenizer kind {kind!r}; valid kinds are {KINDS}.")
  tokenizer = WithMaskToken(tokenizer) if config.get("mask_token") else tokenizer
  if config.get("num_sentinels"):
    tokenizer = WithSentinels(tokenizer, config["num_sentinels"])
  return WithChatTokens(tokenizer) if config.get("chat_tokens") else tokenizer


def _train_tokenizer(cfg, train_texts: Callable[[], Iterable[str]]) -> Tokenizer:
  tokenizer = _train_base_tokenizer(cfg, train_texts)
  tokenizer = WithMaskToken(tokenizer) if cfg.mask_token else tokenizer
  if cfg.num_sentinels:
    tokenizer = WithSentinels(tokenizer, cfg.num_sentinels)
  return WithChatTokens(tokenizer) if cfg.chat_tokens else tokenizer


def _train_base_tokenizer(cfg, train_texts: Callable[[], Iterable[str]]) -> Tokenizer:
  kind = cfg.tokenizer
  if kind == "hf":
    raise ValueError("data.tokenizer='hf' is not trained: it comes with a converted checkpoint "
                     "(python -m eval.convert --from_hf=DIR --workdir=W writes W/tokenizer/)")
  if kind == "byte":
    return ByteTokenizer()
  if kind == "char":
    return CharTokenizer.train(train_texts())
  if kind == "word":
    return WordTokenizer.train(train_texts(), vocab_size=cfg.vocab_size)
  return SentencePieceTokenizer.train(
      train_texts(),
      vocab_size=cfg.vocab_size,
      model_type=cfg.spm_model_type,
      max_chars=cfg.spm_max_chars,
  )


def build_tokenizer(
    cfg, workdir: str | None, train_texts: Callable[[], Iterable[str]],
    check: Callable[[Tokenizer], None] = lambda tokenizer: None,
) -> Tokenizer:
  """The run's tokenizer: loaded from `<workdir>/tokenizer/`, or built and saved there.

  cfg is config.data. Loading first makes resume reuse the exact same vocabulary.
  The save is atomic (write elsewhere, then rename), and if another process saved
  first, its tokenizer is used. check(tokenizer) may raise; it runs before a new
  tokenizer is saved, so a rejected one is not kept for the next run.
  """
  if cfg.tokenizer not in KINDS:
    raise ValueError(f"Unknown tokenizer {cfg.tokenizer!r}; valid names are {KINDS}.")
  directory = os.path.join(workdir, "tokenizer") if workdir else None
  if directory and os.path.isdir(directory):
    tokenizer = load_tokenizer(directory)
    if tokenizer.kind != cfg.tokenizer:
      raise ValueError(
          f"{directory} holds a {tokenizer.kind!r} tokenizer but the config asks for "
          f"{cfg.tokenizer!r}; use a new workdir or set data.tokenizer={tokenizer.kind!r}."
      )
    if cfg.mask_token and tokenizer.mask_id is None:
      raise ValueError(f"{directory} holds a tokenizer without [MASK] but the config sets "
                       "data.mask_token=True; use a new workdir.")
    if cfg.num_sentinels != getattr(tokenizer, "num_sentinels", 0):
      raise ValueError(f"{directory} holds a tokenizer with "
                       f"{getattr(tokenizer, 'num_sentinels', 0)} sentinels but the config "
                       f"asks for data.num_sentinels={cfg.num_sentinels}; use a new workdir.")
    if cfg.chat_tokens and not isinstance(tokenizer, WithChatTokens):
      # e.g. a pretrained run's tokenizer copied by init_from: append the role markers
      # (every existing id stays) and save, so later loads agree.
      tokenizer = WithChatTokens(tokenizer)
      tokenizer.save(directory)
    check(tokenizer)
    return tokenizer
  tokenizer = _train_tokenizer(cfg, train_texts)
  check(tokenizer)
  if directory:
    os.makedirs(workdir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="tokenizer.tmp-", dir=workdir)
    tokenizer.save(staging)
    try:
      os.rename(staging, directory)
    except OSError:
      shutil.rmtree(staging, ignore_errors=True)
      if not os.path.isdir(directory):
        raise
      logging.info("Another process saved %s first; loading it.", directory)
      return load_tokenizer(directory)
  return tokenizer
