"""electra: generator MLM + replaced-token detection by the discriminator (Clark et al.)."""
from data import masking
from data import pipeline
from train import flops
from train import objectives
from train.tasks.base import Task, without_task_cfg
from train.tasks.mlm import MASKED_KEYS


def make_loss_fn(config, model):
  return objectives.make_electra(
      model, config.data.packing_mask,
      config.train.electra_disc_weight)


def train_flops(config, model_config) -> float:
  """Discriminator + generator (model_config is the discriminator's)."""
  return flops.electra_flops_per_token(model_config, config.data.seq_len,
                                       config.model.generator_ratio, config.model.embed_dim)


TASK = Task(
    name="electra",
    families=("electra",),
    batch_keys=MASKED_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_mlm_dataset),
    check_data_config=masking.check_config,
    summarize=objectives.electra_metrics,
    train_flops=train_flops,
)
