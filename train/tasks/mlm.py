"""mlm: masked-LM over packed windows (RoBERTa's FULL-SENTENCES, data/masking.py)."""
from data import masking
from data import pipeline
from train import objectives
from train.tasks.base import Task, without_task_cfg

# make_mlm_dataset's batches (data/pipeline.py)
MASKED_KEYS = ("inputs", "targets", "weights", "segment_ids", "positions")


def make_loss_fn(config, model):
  return objectives.make_mlm(model, config.data.packing_mask, pair=False)


TASK = Task(
    name="mlm",
    families=("bert",),
    batch_keys=MASKED_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_mlm_dataset),
    check_data_config=masking.check_config,
)
