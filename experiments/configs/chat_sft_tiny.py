"""Dialogue fine-tuning (chat_sft): a small GPT answers DailyDialog turns as the assistant.

Command (from scratch; DailyDialog-style files in data.files, see data/builders/dialogues.py):
  python -m train.main --config=experiments/configs/chat_sft_tiny.py --workdir=/tmp/chat \
      --config.data.files=../shared/data/dailydialog
  python -m eval.chat --workdir=/tmp/chat
From a pretrained gpt_tiny run (same model shape; its tokenizer is copied, the 4 role
markers appended and the embedding grown by 4 fresh rows): --config.init_from=/tmp/run.
Measured: from a 300-step gpt_tiny stdlib run, 30 steps (36 s) reach validation loss 4.126
on assistant tokens (from scratch: 4.080 after 600 steps).
Runtime: 37 min on the 2-core CPU while other jobs held the load at ~22 (230-970 tokens/s;
  data prep ~5 s, SentencePiece ~1 min); the same-sized gpt_tiny runs 600 steps in ~3 min
  on a quiet machine.
Result (2026-11-30, from scratch): validation loss 4.080 / perplexity 59.2 / accuracy 0.248
  on assistant tokens only (1.07M params, 600 steps). Replies are short, on-topic-ish
  DailyDialog talk: "Hello , how are you today ?" -> "I'm sorry . I'm not a good ." (greedy).
Loss counts only assistant tokens (data/chat.py); history is truncated from the oldest turn.
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()  # the same model, tokenizer size and schedule (init_from fits)
  c.objective = "chat_sft"
  c.data.dataset = "dialogue_files"
  c.data.files = "../shared/data/dailydialog"
  c.data.chat_tokens = True  # <|system|> <|user|> <|assistant|> <|end|> after the vocab
  c.data.shuffle_buffer = 8192  # the results above; gpt_tiny's 65536 would hold thousands
  #                               of epochs of a small dialogue set before its first batch
  c.sample.num_samples = 0  # chat replies: python -m eval.chat (settings: base.py's chat.*)
  return c
