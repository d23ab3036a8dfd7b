"""classification: one label per sequence from a pooled head on a pretrained backbone."""
import functools

from data import finetune
from model import heads
from train import flops
from train import task_objectives
from train.tasks.base import Task

FINETUNE_FAMILIES = ("gpt", "bert", "electra")  # Transformer backbones (model/heads.py)
FINETUNE_LAYOUT = ((heads.BACKBONE,), (heads.HEAD,))  # the pretrained tree under "backbone"


def make_loss_fn(config, model):
  return task_objectives.make_classification(model, task_objectives.class_weights(config.task))


def wrap(backbone, config):
  return heads.sequence_classifier(backbone, config.task, config.model.family)


def backbone_flops(config, model_config, num_classes: int = 0) -> float:
  """The backbone's hidden states (no LM output) and, num_classes > 0, a per-token head;
  the pooled head runs once per row and is left out."""
  embed_dim = config.model.embed_dim if config.model.family != "gpt" else 0
  return flops.encoder_flops_per_token(model_config, config.data.seq_len, embed_dim,
                                       heads=(), num_classes=num_classes)


TASK = Task(
    name="classification",
    families=FINETUNE_FAMILIES,
    batch_keys=("inputs", "label", "label_weight"),
    make_loss_fn=make_loss_fn,
    make_dataset=functools.partial(finetune.make_finetune_dataset, tags=False),
    wrap=wrap,
    param_layout=FINETUNE_LAYOUT,
    reward_output="classes",
    class_report="sequence",
    summarize=task_objectives.class_metrics,
    train_flops=backbone_flops,
)
