"""mlm_nsp: masked LM + next-sentence prediction on [CLS] A [SEP] B [SEP] pairs (BERT)."""
from data import masking
from data import pairs
from data import pipeline
from train import objectives
from train.tasks.base import Task, without_task_cfg
from train.tasks.mlm import MASKED_KEYS, train_flops

PAIR_KEYS = MASKED_KEYS + ("token_types", "pair_label", "pair_weight")  # make_pair_dataset's


def make_loss_fn(config, model):
  return objectives.make_mlm(model, config.data.packing_mask, pair=True)


def check_data_config(cfg) -> None:
  masking.check_config(cfg)
  pairs.check_seq_len(cfg.seq_len)


TASK = Task(
    name="mlm_nsp",
    families=("bert",),
    batch_keys=PAIR_KEYS,
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_pair_dataset, task="nsp"),
    check_data_config=check_data_config,
    train_flops=train_flops,
)
