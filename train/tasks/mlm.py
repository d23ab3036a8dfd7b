"""mlm: masked-LM over packed windows (RoBERTa's FULL-SENTENCES, data/masking.py)."""
from data import masking
from data import pipeline
from train import flops
from train import objectives
from train.tasks.base import Task, without_task_cfg

# make_mlm_dataset's batches (data/pipeline.py)
MASKED_KEYS = ("inputs", "targets", "weights", "segment_ids", "positions")


def make_loss_fn(config, model):
  return objectives.make_mlm(model, config.data.packing_mask, pair=False)


def train_flops(config, model_config) -> float:
  """The encoder with its MLM head over every position (the pair head is per row)."""
  return flops.encoder_flops_per_token(model_config, config.data.seq_len,
                                       config.model.embed_dim)


TASK = Task(
    name="mlm",
    families=("bert",),
    batch_keys=MASKED_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_mlm_dataset),
    check_data_config=masking.check_config,
    train_flops=train_flops,
)
