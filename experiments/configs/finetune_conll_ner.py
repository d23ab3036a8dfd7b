"""Fine-tune a BERT-family encoder on CoNLL-2003 English NER (BIO tags, 4 entity types).

Command (pretrain, fine-tune, evaluate):
  python -m train.main --config=experiments/configs/bert_tiny.py --workdir=/tmp/bert \
      --config.train.steps=300
  python -m train.main --config=experiments/configs/finetune_conll_ner.py --workdir=/tmp/ner \
      --config.init_from=/tmp/bert
  python -m eval.main --workdir=/tmp/ner --split=validation   # entity F1, per-type table
Each word's tag is predicted at its first sub-token (the others are ignored); entity F1
is conlleval's (exact spans). Data: ../shared/data/conll2003 (train.txt, valid.txt,
test.txt; token POS chunk NER columns); TFDS instead with
--config.data.dataset=conll2003 --config.data.text_key=tokens --config.data.label_key=ner
--config.data.data_dir=DIR (its ClassLabel order is the label_names below).
Runtime and result: see RESULTS at the end of this docstring.
"""
from experiments.configs import bert_tiny


def get_config():
  c = bert_tiny.get_config()
  c.objective = "token_classification"
  c.model.dropout = 0.1
  c.data.dataset = "conll"
  c.data.files = "../shared/data/conll2003"
  c.data.eval_split = "validation"  # valid.txt (3,250 sentences, 5,942 entities)
  c.data.seq_len = 96
  c.data.batch_size = 32
  c.task.num_classes = 9
  c.task.label_names = "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC"
  c.task.head_dropout = 0.1
  c.train.steps = 400
  c.train.learning_rate = 5e-4
  c.train.end_learning_rate = 0.0
  c.train.schedule = "linear"
  c.train.warmup_steps = 40
  c.train.weight_decay = 0.01
  c.train.log_every = 50
  c.train.eval_every = 200
  c.train.eval_batches = 0
  c.train.checkpoint_every = 200
  c.train.best_metric = "entity_f1"
  c.train.best_mode = "max"
  return c
