"""electra: generator MLM + replaced-token detection by the discriminator (Clark et al.)."""
from data import masking
from data import pipeline
from train import objectives
from train.tasks.base import Task, without_task_cfg
from train.tasks.mlm import MASKED_KEYS


def make_loss_fn(config, model):
  return objectives.make_electra(
      model, config.data.packing_mask,
      config.train.electra_disc_weight)


TASK = Task(
    name="electra",
    families=("electra",),
    batch_keys=MASKED_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_mlm_dataset),
    check_data_config=masking.check_config,
    summarize=objectives.electra_metrics,
)
