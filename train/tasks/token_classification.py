"""token_classification: a BIO tag per word (its first sub-token) on a pretrained backbone."""
import functools

from data import finetune
from model import heads
from train import task_objectives
from train.tasks.base import Task
from train.tasks.classification import FINETUNE_FAMILIES, FINETUNE_LAYOUT, backbone_flops


def make_loss_fn(config, model):
  return task_objectives.make_token_classification(
      model, task_objectives.class_weights(config.task))


def wrap(backbone, config):
  return heads.token_classifier(backbone, config.task)


def train_flops(config, model_config) -> float:
  return backbone_flops(config, model_config, config.task.num_classes)


TASK = Task(
    name="token_classification",
    families=FINETUNE_FAMILIES,
    batch_keys=("inputs", "targets", "weights", "num_words"),
    make_loss_fn=make_loss_fn,
    make_dataset=functools.partial(finetune.make_finetune_dataset, tags=True),
    wrap=wrap,
    param_layout=FINETUNE_LAYOUT,
    class_report="token (first sub-token of each word)",
    summarize=task_objectives.class_metrics,
    train_flops=train_flops,
)
