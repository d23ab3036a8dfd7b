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
Runtime (the shared 2-core CPU under load average ~20 from other jobs): 400 steps
  (~0.9 epoch) took 45 min wall but 320 CPU-seconds (user + system), so ~4-5 min idle;
  eval.main on valid: 35 s.
Result on valid (3,250 sentences, 5,867 scored entities), best = last step (400):
  from scratch: entity F1 0.399 (P 0.368, R 0.436), tag accuracy 90.0% (all-"O" scores
    83%), tag macro F1 0.486; 499 of 51,362 words cut by seq_len=96 (not scored);
  from bert_tiny pretrained 300 steps on Python source: entity F1 0.271, tag accuracy
    87.3%; its code vocabulary splits words into more pieces (1,778 words cut).
  As on SST-2, this tiny code pretraining does not transfer; the numbers show the
  pipeline, not a strong tagger (BERT-base reaches ~0.95 dev F1).
"""
from experiments.configs import finetune_base


def get_config():
  c = finetune_base.get_config()
  c.objective = "token_classification"
  c.data.dataset = "conll"
  c.data.files = "../shared/data/conll2003"
  c.data.eval_split = "validation"  # valid.txt (3,250 sentences, 5,942 entities)
  c.data.seq_len = 96
  c.task.num_classes = 9
  c.task.label_names = "O,B-PER,I-PER,B-ORG,I-ORG,B-LOC,I-LOC,B-MISC,I-MISC"
  c.train.learning_rate = 5e-4
  c.train.eval_every = 200
  c.train.best_metric = "entity_f1"
  return c
