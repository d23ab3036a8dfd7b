"""causal_lm: next-token prediction over packed windows of text (GPT, LSTM)."""
from data import pipeline
from train import objectives
from train.tasks.base import Task, without_task_cfg


def check_data_config(cfg) -> None:
  if not 0 <= cfg.eval_stride <= cfg.seq_len:
    raise ValueError(f"data.eval_stride={cfg.eval_stride} must be in [0, data.seq_len="
                     f"{cfg.seq_len}]; 0 evaluates disjoint windows")
  if cfg.random_windows and cfg.add_eos:
    raise ValueError("data.random_windows=True draws windows from one text stream; set "
                     "data.add_eos=False (documents with EOS between them are packed windows)")


def make_loss_fn(config, model):
  return objectives.make_causal_lm(model, config.data.packing_mask,
                                   stateful=config.data.contiguous)


TASK = Task(
    name="causal_lm",
    families=("gpt", "lstm"),
    batch_keys=("inputs", "targets", "weights", "segment_ids", "positions"),
    make_loss_fn=make_loss_fn,
    make_dataset=without_task_cfg(pipeline.make_lm_dataset),
    check_data_config=check_data_config,
    lm_samples=True,
    scores_every_token=True,
)
