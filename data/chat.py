"""The dialogue template, history truncation and the chat_sft batches.

A dialogue is a list of (role, text) turns, role in system / user / assistant. With the
role markers of `tokenizers.WithChatTokens` (data.chat_tokens=True) it becomes
  <bos> <|system|> text <|end|> <|user|> text <|end|> <|assistant|> text <|end|> ...
and a reply is generated after `... <|user|> text <|end|> <|assistant|>` until <|end|>.
The chat_sft loss counts only what the assistant says: its text and its <|end|>
(weights 1), never the system/user turns or the markers that open a turn (weights 0).

When a dialogue does not fit the context, whole turns are dropped from the oldest on (a
system turn is kept); if the newest turn alone still does not fit, its oldest tokens go.

Sources: `data.dataset="dialogue_files"` (DailyDialog-style files in data.files, see
data/builders/dialogues.py) or any TFDS dataset prepared as array_record whose feature
data.turns_key holds the utterances (a list of strings, or one string split on
data.turn_separator), e.g. `huggingface:daily_dialog` with turns_key="dialog". Speakers
alternate user, assistant, user, ...; data.chat_system adds a system turn in front.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from data import grain_ops
from data import sources
from data.tokenizers import Tokenizer, encode_array

ROLES = ("system", "user", "assistant")
Turn = tuple[str, str]


def check_tokenizer(tokenizer: Tokenizer) -> None:
  if not hasattr(tokenizer, "role_id"):
    raise ValueError("chat needs the tokenizer's role markers: set data.chat_tokens=True "
                     "(a workdir trained without them gets them appended on the next run)")


def encode_turns(tokenizer: Tokenizer, turns: Sequence[Turn],
                 open_assistant: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """(ids, weights) of the template; weights are 1 on assistant text and its <|end|>.

  open_assistant appends `<|assistant|>` (the prompt a reply is generated after).
  """
  check_tokenizer(tokenizer)
  ids, weights = [np.array([tokenizer.bos_id], np.int32)], [np.zeros(1, np.float32)]
  for role, text in turns:
    body = encode_array(tokenizer, text)
    w = 1.0 if role == "assistant" else 0.0
    ids.append(np.concatenate([[tokenizer.role_id(role)], body, [tokenizer.end_id]]))
    weights.append(np.concatenate([[0.0], np.full(len(body) + 1, w)]))
  if open_assistant:
    ids.append(np.array([tokenizer.role_id("assistant")]))
    weights.append(np.zeros(1))
  return (np.concatenate(ids).astype(np.int32), np.concatenate(weights).astype(np.float32))


def fit_turns(tokenizer: Tokenizer, turns: Sequence[Turn], max_tokens: int,
              open_assistant: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """encode_turns of the newest turns that fit max_tokens (module docstring)."""
  if max_tokens < 2:
    raise ValueError(f"a dialogue needs a context of at least 2 tokens, got {max_tokens}")
  system = [t for t in turns[:1] if t[0] == "system"]
  rest = list(turns[len(system):])
  while True:
    ids, weights = encode_turns(tokenizer, system + rest, open_assistant)
    if len(ids) <= max_tokens or len(rest) <= 1:
      break
    rest = rest[1:]
  if len(ids) > max_tokens and system and rest:  # the system turn goes before the last turn
    ids, weights = encode_turns(tokenizer, rest, open_assistant)
  if len(ids) > max_tokens:  # one turn alone is too long: keep BOS and its newest tokens
    keep = max_tokens - 1
    ids = np.concatenate([ids[:1], ids[-keep:]])
    weights = np.concatenate([weights[:1], weights[-keep:]])
  return ids, weights


def dialogue_turns(record: Any, cfg) -> list[Turn]:
  """(role, text) turns of a record: alternating user/assistant, after an optional system."""
  key = turns_key(cfg)
  try:
    value = record[key]
  except KeyError:
    raise ValueError(f"records have no feature {key!r} (they have {sorted(record)}); set "
                     "data.turns_key to the feature holding the utterances") from None
  if isinstance(value, (bytes, str)):
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    utterances = [u.strip() for u in text.split(cfg.turn_separator)]
  else:
    utterances = [sources.record_text({"u": u}, "u").strip() for u in value]
  turns = [(ROLES[1 + i % 2], u) for i, u in enumerate(u for u in utterances if u)]
  system = cfg.chat_system
  return ([("system", system)] if system else []) + turns


def check_config(cfg) -> None:
  """data.turn_separator (chat_sft), before any dialogue is read."""
  if not cfg.turn_separator:
    raise ValueError("data.turn_separator='' cannot split a dialogue held as one string; set "
                     "it to the text between utterances (default: a newline)")


def turns_key(cfg) -> str:
  return "turns" if cfg.dataset == "dialogue_files" else cfg.turns_key


class _Encode(grain.transforms.Map):
  """Dialogue record -> one padded row: inputs, targets, weights (assistant only)."""

  def __init__(self, cfg, tokenizer: Tokenizer):
    check_tokenizer(tokenizer)
    self._cfg, self._tokenizer, self._seq_len = cfg, tokenizer, cfg.seq_len

  def map(self, record: Any) -> dict[str, np.ndarray]:
    turns = dialogue_turns(record, self._cfg)
    while turns and turns[-1][0] != "assistant":  # nothing to learn after the last reply
      turns = turns[:-1]
    ids, weights = fit_turns(self._tokenizer, turns, self._seq_len + 1)
    return pad_row(ids, weights, self._seq_len, self._tokenizer.pad_id)


def pad_row(ids: np.ndarray, weights: np.ndarray, seq_len: int,
            pad_id: int) -> dict[str, np.ndarray]:
  """Next-token inputs/targets of one dialogue, padded on the right to seq_len."""
  n = len(ids) - 1
  row = {"inputs": np.full(seq_len, pad_id, np.int32),
         "targets": np.full(seq_len, pad_id, np.int32),
         "weights": np.zeros(seq_len, np.float32)}
  row["inputs"][:n], row["targets"][:n], row["weights"][:n] = ids[:-1], ids[1:], weights[1:]
  return row


def make_chat_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                      process_index: int = 0, process_count: int = 1,
                      train: bool = True) -> grain.IterDataset:
  """Batches of one dialogue per row [B, seq_len]: inputs, targets, weights (float32, 1 on
  assistant tokens). Training shuffles dialogues per epoch; eval pads its last batch."""
  return grain_ops.record_batches(
      sources.get_source(cfg, split), cfg, split, _Encode(cfg, tokenizer),
      pad_id=tokenizer.pad_id, seed=seed, process_index=process_index,
      process_count=process_count, train=train, what="dialogues")
