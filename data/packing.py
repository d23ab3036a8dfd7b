"""Packs a stream of tokenized documents into fixed windows for next-token prediction.

The documents are concatenated into one token stream and read in windows of L+1
tokens with stride L (consecutive windows share one token), so every adjacent pair
of the stream is an (input, target) pair exactly once: inputs = w[:-1], targets =
w[1:]. Per input token we also give its segment (1, 2, ... per document piece in
the window, 0 = padding) and its position, which restarts at 0 at each document
start and at the window start (a document continued from the previous window
restarts at 0), so positions always stay below L.

The iterator state is (parent state before the document holding the next window's
first token, token offset in it): small, JSON-serialisable and exact on restore.
"""
import collections
from typing import Any

import grain
import numpy as np


def _state_copy(state: Any) -> Any:
  """A deep copy of a JSON-like state, so later parent updates cannot alias it."""
  if isinstance(state, dict):
    return {k: _state_copy(v) for k, v in state.items()}
  if isinstance(state, (list, tuple)):
    return [_state_copy(v) for v in state]
  if isinstance(state, np.integer):
    return int(state)
  return state


class PackedWindowsIterDataset(grain.IterDataset):
  """Windows of `seq_len` (input, target) pairs from an IterDataset of int32 arrays.

  Yields dicts of numpy arrays [seq_len]: inputs, targets, weights, segment_ids,
  positions. With documents=False the stream is one document (segment ids all 1).
  When the parent ends, a last partial window is padded (weights 0) if pad_last,
  else dropped. stride < seq_len gives strided sliding windows (evaluation): each window
  starts `stride` tokens after the previous one and weights only the targets no earlier
  window scored, so every pair is still scored once, each with >= seq_len - stride
  tokens of context (the first window's targets excepted).
  """

  def __init__(
      self,
      parent: grain.IterDataset,
      *,
      seq_len: int,
      documents: bool = True,
      pad_id: int = 0,
      pad_last: bool = False,
      stride: int = 0,
  ):
    super().__init__(parent)
    if seq_len <= 0:
      raise ValueError(f"seq_len must be positive, got {seq_len}.")
    if not 0 <= stride <= seq_len:
      raise ValueError(f"stride must be in [1, seq_len={seq_len}] (0: seq_len), got {stride}.")
    self._seq_len = seq_len
    self._documents = documents
    self._pad_id = pad_id
    self._pad_last = pad_last
    self._stride = stride or seq_len

  def __iter__(self) -> "_PackedWindowsIterator":
    return _PackedWindowsIterator(
        self._parent.__iter__(),
        seq_len=self._seq_len,
        documents=self._documents,
        pad_id=self._pad_id,
        pad_last=self._pad_last,
        stride=self._stride,
    )

  def __str__(self) -> str:
    return f"PackedWindowsIterDataset(seq_len={self._seq_len})"


class _PackedWindowsIterator(grain.DatasetIterator):
  """See PackedWindowsIterDataset."""

  def __init__(self, parent, *, seq_len, documents, pad_id, pad_last, stride):
    super().__init__(parent)
    self._seq_len = seq_len
    self._documents = documents
    self._pad_id = pad_id
    self._pad_last = pad_last
    self._stride = stride
    self._reset(self._parent.get_state(), offset=0)

  def _reset(self, parent_state: Any, offset: int, scored: int = 0) -> None:
    self._scored = scored  # leading targets of the next window an earlier one scored
    # Pending documents as (parent state before fetching it, tokens); the next
    # window starts at self._offset in the first one.
    self._docs: collections.deque = collections.deque()
    self._available = 0  # Tokens in self._docs from self._offset on.
    self._offset = offset
    self._start_state = _state_copy(parent_state)  # Used while self._docs is empty.
    self._exhausted = False

  def _fetch(self) -> bool:
    """Appends one non-empty parent document; False when the parent has ended."""
    while True:
      state = _state_copy(self._parent.get_state())
      try:
        tokens = next(self._parent)
      except StopIteration:
        self._exhausted = True
        return False
      tokens = np.asarray(tokens, dtype=np.int32).reshape(-1)
      if not self._docs:
        self._start_state = state
      if len(tokens):
        self._docs.append((state, tokens))
        self._available += len(tokens) - (self._offset if len(self._docs) == 1 else 0)
        return True

  def __next__(self) -> dict[str, np.ndarray]:
    need = self._seq_len + 1
    while self._available < need and not self._exhausted:
      self._fetch()
    if self._available < 2 or (self._available < need and not self._pad_last):
      raise StopIteration
    n = min(need, self._available)
    window = self._window(n)
    if self._scored >= n - 1:  # a last window with nothing new (strided windows only)
      raise StopIteration
    window["weights"][:self._scored] = 0.0
    step = min(self._stride, self._available - 1)
    self._scored = n - 1 - step
    self._advance(step)
    return window

  def _window(self, n: int) -> dict[str, np.ndarray]:
    """The next n (<= L+1) stream tokens as one example, padded to L."""
    length = self._seq_len
    tokens = np.full(length + 1, self._pad_id, dtype=np.int32)
    segment_ids = np.zeros(length + 1, dtype=np.int32)
    positions = np.zeros(length + 1, dtype=np.int32)
    filled, offset = 0, self._offset
    for segment, (_, doc) in enumerate(self._docs, start=1):
      take = min(len(doc) - offset, n - filled)
      tokens[filled:filled + take] = doc[offset:offset + take]
      segment_ids[filled:filled + take] = segment if self._documents else 1
      positions[filled:filled + take] = np.arange(take, dtype=np.int32)
      filled, offset = filled + take, 0
      if filled == n:
        break
    if not self._documents:
      positions[:n] = np.arange(n, dtype=np.int32)
    weights = np.zeros(length, dtype=np.float32)
    weights[:n - 1] = 1.0
    inputs = tokens[:-1].copy()
    inputs[n - 1:] = self._pad_id  # The last real token has no target.
    return {
        "inputs": inputs,
        "targets": tokens[1:].copy(),
        "weights": weights,
        "segment_ids": np.where(weights > 0, segment_ids[:-1], 0).astype(np.int32),
        "positions": np.where(weights > 0, positions[:-1], 0).astype(np.int32),
    }

  def _advance(self, n: int) -> None:
    """Moves the window start n tokens on, dropping finished documents."""
    self._offset += n
    self._available -= n
    while self._docs and self._offset >= len(self._docs[0][1]):
      self._offset -= len(self._docs[0][1])
      self._docs.popleft()
    # n <= available - 1, so at least one token (and its document) is left.
    self._start_state = self._docs[0][0]

  def get_state(self) -> dict[str, Any]:
    state = {"parent": _state_copy(self._start_state), "offset": int(self._offset)}
    if self._scored:  # strided windows only: saved train states keep their old form
      state["scored"] = int(self._scored)
    return state

  def set_state(self, state: dict[str, Any]) -> None:
    self._parent.set_state(_state_copy(state["parent"]))
    self._reset(state["parent"], offset=int(state["offset"]), scored=state.get("scored", 0))

  def __str__(self) -> str:
    return "PackedWindowsIterator"
