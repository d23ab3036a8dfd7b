"""Fine-tune a BERT-family encoder on SST-2 (binary sentiment, GLUE), CLS pooling.

Command (pretrain, fine-tune, evaluate):
  python -m train.main --config=experiments/configs/bert_tiny.py --workdir=/tmp/bert \
      --config.train.steps=300
  python -m train.main --config=experiments/configs/finetune_sst2.py --workdir=/tmp/sst2 \
      --config.init_from=/tmp/bert
  python -m eval.main --workdir=/tmp/sst2 --split=validation  # report.json/.md + confusion PNG
Without init_from the same architecture trains from scratch (its own SentencePiece
vocabulary, trained on the SST-2 train sentences). Data: ../shared/data/sst2 (GLUE TSV:
train.tsv, dev.tsv); TFDS instead with --config.data.dataset=glue/sst2
--config.data.data_dir=DIR (prepared as array_record). The model.* keys are bert_tiny's:
init_from checks that they match the pretrained run.
Runtime (the shared 2-core CPU under load average ~20 from other jobs): 400 steps took
  35 min wall but only 200 CPU-seconds (user + system), so ~2-3 min on an idle machine;
  the bert_tiny pretraining (300 steps) 9.7 min wall / 153 CPU-s.
Result on dev (872 sentences, majority baseline 50.9%), best = last step (400):
  from scratch (no init_from): accuracy 74.4%, macro F1 0.744 (loss 0.537);
  from bert_tiny pretrained 300 steps on the Python stdlib: 68.3%, macro F1 0.681.
  Both clearly beat the majority; pretraining did NOT help here: 300 MLM steps on Python
  source (masked accuracy 10%) with a code-trained vocabulary transfer little to English
  movie reviews, while the scratch run's SentencePiece vocabulary is SST-2's own.
"""
from experiments.configs import finetune_base


def get_config():
  c = finetune_base.get_config()
  c.objective = "classification"
  c.data.dataset = "glue_tsv"
  c.data.files = "../shared/data/sst2"
  c.data.text_key = "sentence"
  c.data.label_key = "label"
  c.data.eval_split = "validation"  # dev.tsv (872 sentences; 50.9% positive)
  c.data.seq_len = 64
  c.task.num_classes = 2
  c.task.label_names = "negative,positive"
  c.task.pooling = "cls"
  c.train.learning_rate = 3e-4
  c.train.eval_every = 100
  c.train.best_metric = "accuracy"
  return c
