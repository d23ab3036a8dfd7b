"""Grain's record and window shuffles, with each permutation drawn by NumPy.

Grain (0.2.18) computes every shuffled position with `index_shuffle`, a Simon cipher of at
least 16 bits that cycle-walks down to the domain: ~65536 / n cipher calls per element, so
a window or dataset of n = 16 costs ~1.5 ms per element (a tiny run's step waited ~25 ms
for its batch) and n = 1024 ~30 us. These draw one NumPy permutation per epoch or window
from (seed, epoch or window index) instead: same contracts, same checkpoint state, a
different (equally seeded, deterministic) order.
"""
from __future__ import annotations

from typing import Any, Sequence

import grain
import numpy as np
from grain._src.python.dataset import dataset as grain_dataset
from grain._src.python.dataset.transformations import shuffle as grain_shuffle


def _permutation(seed: int, index: int, n: int) -> np.ndarray:
  return np.random.default_rng([seed, index]).permutation(n)


class EpochShuffle(grain.MapDataset):
  """The parent's records in a fresh order each epoch (index // len); as
  `MapDataset.shuffle(seed)`, so `.repeat()` after it reshuffles every epoch."""

  def __init__(self, parent: grain.MapDataset, *, seed: int):
    super().__init__(parent)
    self._seed = int(seed)
    self._cached: tuple[int, np.ndarray] = (-1, np.zeros(0, np.int64))

  def __len__(self) -> int:
    return len(self._parent)

  def __str__(self) -> str:
    return "EpochShuffle"

  def _shuffled_index(self, index: int) -> int:
    length = len(self._parent)
    epoch, within = divmod(index, length)
    cached_epoch, order = self._cached  # one tuple: safe under read-ahead threads
    if cached_epoch != epoch:
      order = _permutation(self._seed, epoch, length)
      self._cached = (epoch, order)
    return int(order[within]) + epoch * length

  def __getitem__(self, index):
    if isinstance(index, slice):
      return self.slice(index)
    return self._parent[self._shuffled_index(index)]

  def _getitems(self, indices: Sequence[int]):
    return self._parent._getitems([self._shuffled_index(i) for i in indices])  # pylint: disable=protected-access

  @property
  def _element_spec(self) -> Any:
    return grain_dataset.get_element_spec(self._parent)


class _WindowShuffleIterator(grain_shuffle._WindowShuffleDatasetIterator):  # pylint: disable=protected-access
  """Grain's window iterator (state, resume) with a NumPy permutation per window."""

  def _fill_and_shuffle_window(self):
    window = []
    try:
      for _ in range(self._window_size):
        window.append(next(self._parent))
    except StopIteration:
      self._parent_exhausted = True
    order = _permutation(self._global_seed, self._window_index, len(window))
    self._window = [window[i] for i in order]


class WindowShuffle(grain.experimental.WindowShuffleIterDataset):
  """Elements shuffled within consecutive windows of window_size, each window by its own
  seed (seed, window index); as grain.experimental.WindowShuffleIterDataset."""

  def __iter__(self):
    return _WindowShuffleIterator(self._parent.__iter__(), window_size=self._window_size,
                                  seed=self._seed)

  def __str__(self) -> str:
    return "WindowShuffle"
