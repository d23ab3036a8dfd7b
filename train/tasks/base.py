"""What an objective is: one Task (DESIGN.md, "A task is the unit of an objective").

A Task names the model families it trains, the keys its batches carry (the contract
between its data/ builder and its loss, checked once where they meet), how it wraps the
backbone, its dataset, its loss and what the end of a run reports for it. The train step
stays generic: `loss_fn(params, batch, rng, deterministic) -> (loss, metric sums)`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Callable, Optional

import flax.linen as nn
import grain

from train import flops
from train import objectives
from train.objectives import LossFn

# make_dataset(cfg, tokenizer, split, *, seed, process_index=0, process_count=1,
#              train=True, task_cfg=None) -> batches; cfg is config.data, task_cfg config.task
DatasetFn = Callable[..., grain.IterDataset]
ParamLayout = tuple[tuple[str, ...], tuple[str, ...]]


def no_data_check(cfg: Any) -> None:
  """For tasks whose pipeline reads no config.data key beyond rows (seq_len, batch_size)."""
  del cfg


def backbone_only(backbone: nn.Module, config: Any) -> nn.Module:
  """For tasks that train the family's own model (no head around it)."""
  del config
  return backbone


def lm_flops(config: Any, model_config: Any) -> float:
  """A language model's (GPT decoder or LSTM) training FLOPs per token: stack + output."""
  return flops.flops_per_token(model_config, config.data.seq_len)


def without_task_cfg(build: Callable[..., grain.IterDataset], **fixed: Any) -> DatasetFn:
  """A data/ builder that reads only config.data, as a Task's make_dataset."""
  def make_dataset(cfg, tokenizer, split, *, task_cfg: Any = None, **kwargs):
    del task_cfg
    return build(cfg, tokenizer, split, **fixed, **kwargs)
  return make_dataset


@dataclasses.dataclass(frozen=True)
class Task:
  """One objective (a module of train/tasks/, registered in train/tasks/__init__.py)."""
  name: str  # config.objective
  families: tuple[str, ...]  # the model.family values it trains
  batch_keys: tuple[str, ...]  # every batch of make_dataset carries these; the loss reads them
  make_loss_fn: Callable[[Any, nn.Module], LossFn]  # (config, model) -> loss_fn; checks train.*
  make_dataset: DatasetFn  # which data/ builder (see DatasetFn)
  check_data_config: Callable[[Any], None] = no_data_check  # its config.data keys, no data read
  wrap: Callable[[nn.Module, Any], nn.Module] = backbone_only  # (backbone, config) -> model
  # (config, model config) -> training FLOPs per token of a step's data.batch_size x
  # data.seq_len, as the loss computes them (train/flops.py; the logged MFU's numerator).
  # None: not counted, and no MFU is logged (e.g. a policy and its frozen reference).
  train_flops: Optional[Callable[[Any, Any], float]] = lm_flops
  # Summed metrics (the loss's, over steps, devices and eval batches) -> the reported ones.
  summarize: Callable[[dict], dict] = objectives.lm_metrics
  # (prefix of the pretrained model's params inside this task's tree, top-level names of
  # the heads this task adds): what train/init_from.py copies and what starts fresh.
  param_layout: ParamLayout = ((), ())
  # (config, tokenizer) -> (params -> trees the loss reads as batch["frozen"] but never
  # trains: DPO's reference policy, GRPO's reward), called once by experiment.build (it may
  # read files, e.g. a reward run); the trees are made when a run starts, after init_from
  # (train/state.py), and checkpointed with the state. None: no such trees.
  make_frozen: Optional[Callable[[Any, Any], Callable[[Any], Any]]] = None
  # config -> (() -> the initial carry: a tree the loss reads as batch["carry"] in training
  # and replaces by its sums["carry"], kept in the state and checkpointed, e.g. PPO's
  # rollout buffer), or None when this config needs none. None: never. The eval step
  # passes no carry.
  make_carry: Optional[Callable[[Any], Optional[Callable[[], Any]]]] = None
  # End of a run (eval/end_of_run.py, asked by train/loop.py; eval/evaluate.py): which
  # reports this task's outputs support.
  lm_samples: bool = False  # samples.txt and decode tokens/s (sample.*): a causal LM
  generation_eval: bool = False  # decode the eval split: BLEU, chrF, exact match
  class_report: Optional[str] = None  # per-class report at this level; None: no report
  # Its loss predicts every token of the split's text once, so a whole-split evaluation
  # also reports bits per byte/char and per-word perplexity (eval/evaluate.py).
  scores_every_token: bool = False
  # What eval/rewards.py reads from its outputs as a reward: "classes" (class logits:
  # prob:K / logit:K) or "scalar" (a reward model's r(x, y)); None: not a reward.
  reward_output: Optional[str] = None

  def flops_per_token(self, config: Any, model_config: Any) -> Optional[float]:
    """train_flops(config, model_config), or None when this task's are not counted."""
    return None if self.train_flops is None else self.train_flops(config, model_config)

  def check_family(self, family: str) -> None:
    if family not in self.families:
      raise ValueError(f"objective={self.name!r} trains model.family "
                       f"{' or '.join(self.families)}, not {family!r}")

  def check_batch(self, batch: Mapping[str, Any]) -> None:
    """The data/loss contract: a batch lacking one of batch_keys stops here, by name."""
    missing = [k for k in self.batch_keys if k not in batch]
    if missing:
      raise ValueError(f"objective={self.name!r} needs batch keys {', '.join(missing)} that "
                       f"the batch lacks (it has {', '.join(sorted(batch))}); its data "
                       "builder and its loss disagree")
