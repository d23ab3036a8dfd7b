"""span_corruption: T5 pretraining, sentinel-marked spans of text predicted by the decoder."""
from data import seq2seq as seq2seq_data
from train.tasks import seq2seq
from train.tasks.base import Task, without_task_cfg


def check_data_config(cfg) -> None:
  seq2seq_data.span_lengths(cfg)  # checks data.noise_density, data.mean_noise_span_length


def train_flops(config, model_config) -> float:
  return seq2seq.encoder_decoder_flops(config, model_config,
                                       seq2seq_data.span_lengths(config.data)[1])


TASK = Task(
    name="span_corruption",
    families=("encoder_decoder",),
    batch_keys=seq2seq.SEQ2SEQ_KEYS,
    make_loss_fn=seq2seq.make_loss_fn,  # the same loss; only the data differs
    make_dataset=without_task_cfg(seq2seq_data.make_span_corruption_dataset),
    check_data_config=check_data_config,
    train_flops=train_flops,
)
