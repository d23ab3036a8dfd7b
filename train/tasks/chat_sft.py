"""chat_sft: causal LM on dialogues, loss only on assistant tokens (data/chat.py)."""
from data import chat
from train import objectives
from train.tasks.base import Task, without_task_cfg


def make_loss_fn(config, model):
  del config  # one dialogue per row: no packing mask needed
  return objectives.make_causal_lm(model, packing_mask=False)


TASK = Task(
    name="chat_sft",
    families=("gpt", "lstm"),
    batch_keys=("inputs", "targets", "weights"),
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(chat.make_chat_dataset),
    check_data_config=chat.check_config,
)
