"""seq2seq: teacher-forced translation of (source, target) pairs; decoded at the end."""
from data import seq2seq as seq2seq_data
from train import objectives
from train.tasks.base import Task, without_task_cfg

# + inputs/targets _segment_ids/_positions with data.packing (objectives.PACKED_KEYS)
SEQ2SEQ_KEYS = ("inputs", "targets", "weights")


def make_loss_fn(config, model):
  return objectives.make_seq2seq(model, config.train.label_smoothing)


TASK = Task(
    name="seq2seq",
    families=("encoder_decoder",),
    batch_keys=SEQ2SEQ_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(seq2seq_data.make_seq2seq_dataset),
    # not the dataset (make_dataset checks it): a converted T5 workdir names none that fits
    check_data_config=seq2seq_data.check_lengths,
    generation_eval=True,
)
