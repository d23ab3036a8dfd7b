"""What the fine-tuning configs share: bert_tiny's backbone and a short fine-tuning schedule.

Not a run by itself: finetune_sst2.py and finetune_conll_ner.py add the task, data and
metric. Linear decay to 0 after a 10% warmup, weight decay 0.01, dropout 0.1 (BERT's
fine-tuning recipe at tiny scale); the best checkpoint is kept by train.best_metric.
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.model.dropout = 0.1
  c.data.masking = "dynamic"  # base.py's default: bert_tiny's "static" is masked-LM only
  c.data.eval_split = "validation"
  c.data.batch_size = 32
  c.task.head_dropout = 0.1
  c.train.steps = 400
  c.train.end_learning_rate = 0.0
  c.train.schedule = "linear"
  c.train.warmup_steps = 40
  c.train.weight_decay = 0.01
  c.train.log_every = 50
  c.train.eval_batches = 0  # the whole eval split, so the best step is chosen on all of it
  c.train.checkpoint_every = 200
  c.train.best_mode = "max"
  return c
