"""reward_model: a scalar reward from a Transformer, learned from preference pairs.

Bradley-Terry (Ouyang et al. 2022's reward model): loss -log sigmoid(r(chosen) -
r(rejected)); its metric is pairwise accuracy (the chosen response scored higher). The
reward is a linear head on the last non-pad token (gpt) or the first token (bert, electra)
of prompt + response; `init_from` a pretrained run fills the backbone.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from data import preferences
from model import heads
from train import objectives
from train.tasks.base import Task
from train.tasks.classification import FINETUNE_FAMILIES, FINETUNE_LAYOUT


def wrap(backbone, config):
  pooling = "last" if config.model.family == "gpt" else "cls"
  return heads.Classifier(backbone, num_classes=1, pooling=pooling, dropout=0.0)


def make_loss_fn(config, model):
  del config

  def loss_fn(params, batch, rng, deterministic: bool = False):
    pair_BxT = jnp.concatenate([batch["chosen"], batch["rejected"]], axis=0)
    rewards_2B = model.apply({"params": params}, pair_BxT, deterministic=deterministic,
                             rngs={"dropout": rng})[:, 0]
    chosen_B, rejected_B = jnp.split(rewards_2B, 2)
    weight_B = batch["pair_weight"][:, 0]
    margin_B = chosen_B - rejected_B
    sums = {"loss_sum": jnp.sum(-jax.nn.log_sigmoid(margin_B) * weight_B),
            "correct_sum": jnp.sum((margin_B > 0) * weight_B),
            "margin_sum": jnp.sum(margin_B * weight_B),
            "weight": jnp.sum(weight_B)}
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn



TASK = Task(
    name="reward_model",
    families=FINETUNE_FAMILIES,
    batch_keys=("chosen", "rejected", "pair_weight"),
    make_loss_fn=make_loss_fn,
    make_dataset=preferences.make_preference_dataset,
    wrap=wrap,
    summarize=objectives.pair_means,
    param_layout=FINETUNE_LAYOUT,
    reward_output="scalar",
    train_flops=None,  # two sequences a row: no MFU
)
