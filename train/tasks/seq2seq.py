"""seq2seq: teacher-forced translation of (source, target) pairs; decoded at the end."""
from data import seq2seq as seq2seq_data
from train import flops
from train import objectives
from train.tasks.base import Task, without_task_cfg

# + inputs/targets _segment_ids/_positions with data.packing (objectives.PACKED_KEYS)
SEQ2SEQ_KEYS = ("inputs", "targets", "weights")


def make_loss_fn(config, model):
  return objectives.make_seq2seq(model, config.train.label_smoothing)


def encoder_decoder_flops(config, model_config, targets_len: int) -> float:
  """Per input token (data.seq_len) of a row whose targets are targets_len long."""
  return flops.encoder_decoder_flops_per_token(
      model_config, config.model.num_decoder_layers or config.model.num_layers,
      config.data.seq_len, targets_len)


def train_flops(config, model_config) -> float:
  return encoder_decoder_flops(config, model_config, config.data.max_target_len)


TASK = Task(
    name="seq2seq",
    families=("encoder_decoder",),
    batch_keys=SEQ2SEQ_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(seq2seq_data.make_seq2seq_dataset),
    # not the dataset (make_dataset checks it): a converted T5 workdir names none that fits
    check_data_config=seq2seq_data.check_lengths,
    generation_eval=True,
    train_flops=train_flops,
)
