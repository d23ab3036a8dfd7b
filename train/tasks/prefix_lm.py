"""prefix_lm: the prefix read bidirectionally, the continuation predicted causally.

Raffel et al. (2020)'s "prefix LM" (UniLM's seq2seq mask) on a GPT decoder: each document
piece of a packed window is cut at a random length p in [1, seq_len - 1] (fresh per row and
step, from the run's seed); its first p tokens see each other both ways, the rest stay
causal, and the loss covers only the tokens after the prefix. Sampling prefills the prompt
bidirectionally (the prompt is the prefix) and then decodes with the KV cache as usual.
"""
from __future__ import annotations

import zlib

import grain
import jax.numpy as jnp
import numpy as np

from data import pipeline
from train import objectives
from train.tasks.base import Task

BATCH_KEYS = ("inputs", "targets", "weights", "segment_ids", "positions", "prefix_mask")
_STREAM = zlib.crc32(b"prefix_lm")  # keeps the cut points apart from every other seed use


def check_data_config(cfg) -> None:
  if not cfg.packing_mask:
    raise ValueError("objective=prefix_lm needs data.packing_mask=True: a prefix is read "
                     "both ways, so without document masks it would see the next packed "
                     "document's text")


class _CutPrefix(grain.transforms.MapWithIndex):
  """Adds prefix_mask (positions < p) and keeps the loss on the tokens after the prefix.

  Logits at position i predict token i + 1, so position p - 1 (the prefix's last token)
  predicts the first continuation token and is the first one counted.
  """

  def __init__(self, seq_len: int, seed: int, process_index: int):
    self._seq_len, self._seed, self._process = seq_len, seed, process_index

  def map_with_index(self, index: int, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self._seed, _STREAM, self._process, index])
    cut_Bx1 = rng.integers(1, self._seq_len, size=(len(batch["inputs"]), 1))
    positions = batch["positions"]
    weights = batch["weights"] * (positions >= cut_Bx1 - 1)
    return dict(batch, prefix_mask=positions < cut_Bx1, weights=weights.astype(np.float32))


def make_dataset(cfg, tokenizer, split: str, *, seed: int, process_index: int = 0,
                 process_count: int = 1, train: bool = True, task_cfg=None):
  del task_cfg
  windows = pipeline.make_lm_dataset(cfg, tokenizer, split, seed=seed,
                                     process_index=process_index,
                                     process_count=process_count, train=train)
  return windows.map_with_index(_CutPrefix(cfg.seq_len, seed, process_index))


def make_loss_fn(config, model):
  del config

  def loss_fn(params, batch, rng, deterministic: bool = False):
    logits = model.apply({"params": params}, batch["inputs"], positions=batch["positions"],
                         segment_ids=batch["segment_ids"], prefix_mask=batch["prefix_mask"],
                         deterministic=deterministic, rngs={"dropout": rng})
    sums = objectives.token_metrics(logits, batch["targets"], batch["weights"])
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn


def wrap(backbone, config):
  del config
  return backbone.clone(bidirectional_prefill=True)


TASK = Task(
    name="prefix_lm",
    families=("gpt",),
    batch_keys=BATCH_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=make_dataset,
    check_data_config=check_data_config,
    wrap=wrap,
    lm_samples=True,
)
