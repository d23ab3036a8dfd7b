"""Chat: role tokens, the template's loss mask, truncation, the dialogue builder, SFT + REPL."""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data import chat
from data import tokenizers
from data.builders import dialogues
from experiments.configs import chat_sft_tiny
from train import loop

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIALOGUE = ["hi there , who are you ?", "i am a tiny model .",
            "what do you like ?", "i like sunny days and tea ."]
OTHER = ["good morning .", "morning ! nice weather .", "yes it is .", "see you soon ."]
TOK = tokenizers.WithChatTokens(tokenizers.ByteTokenizer())


def test_role_tokens_follow_the_vocab_and_survive_a_reload(tmp_path):
  assert TOK.vocab_size == 259 + 4
  assert [TOK.role_id(r) for r in ("system", "user", "assistant")] == [259, 260, 261]
  assert TOK.end_id == 262 and TOK.encode("hi") == tokenizers.ByteTokenizer().encode("hi")
  TOK.save(str(tmp_path))
  back = tokenizers.load_tokenizer(str(tmp_path))
  assert isinstance(back, tokenizers.WithChatTokens) and back.end_id == 262
  assert back.decode([260] + back.encode("hey") + [262]) == "hey"
  with pytest.raises(ValueError, match="unknown chat role 'bot'"):
    TOK.role_id("bot")
  with pytest.raises(ValueError, match="data.chat_tokens=True"):
    chat.encode_turns(tokenizers.ByteTokenizer(), [("user", "x")])


def test_sft_weights_are_one_exactly_on_assistant_tokens():
  turns = [("system", "be kind"), ("user", "ab"), ("assistant", "cde"), ("user", "f"),
           ("assistant", "g")]
  ids, w = chat.encode_turns(TOK, turns)
  enc = lambda s: TOK.encode(s)
  expected = ([2] + [259] + enc("be kind") + [262] + [260] + enc("ab") + [262] +
              [261] + enc("cde") + [262] + [260] + enc("f") + [262] + [261] + enc("g") + [262])
  assert ids.tolist() == expected
  assert ids[w == 1].tolist() == enc("cde") + [262] + enc("g") + [262]
  row = chat.pad_row(ids, w, 40, TOK.pad_id)  # next-token targets carry the weights
  assert row["targets"][row["weights"] == 1].tolist() == ids[w == 1].tolist()
  assert row["weights"][len(ids) - 1:].sum() == 0 and row["inputs"][0] == 2
  prompt, _ = chat.encode_turns(TOK, turns[:2], open_assistant=True)
  assert prompt[-1] == TOK.role_id("assistant")


def test_history_is_cut_from_the_oldest_turn():
  turns = [("system", "sys")] + [(r, t) for r, t in zip(["user", "assistant"] * 2, DIALOGUE)]
  full, _ = chat.encode_turns(TOK, turns)
  ids, _ = chat.fit_turns(TOK, turns, len(full))
  assert ids.tolist() == full.tolist()
  ids, _ = chat.fit_turns(TOK, turns, len(full) - 1)  # drops the first user turn, keeps system
  assert ids.tolist() == chat.encode_turns(TOK, [turns[0]] + turns[2:])[0].tolist()
  ids, _ = chat.fit_turns(TOK, turns, 10)  # the newest turn alone is too long: its tail
  assert len(ids) == 10 and ids[0] == 2 and ids[-1] == TOK.end_id


def test_turns_of_any_dialogue_feature():
  import ml_collections
  cfg = ml_collections.ConfigDict(dict(dataset="some_tfds_name", turns_key="dialog",
                                       turn_separator=" || ", chat_system=""))
  want = [("user", "hi"), ("assistant", "hello"), ("user", "bye")]
  assert chat.dialogue_turns({"dialog": np.array([b"hi", b"hello", b"bye"])}, cfg) == want
  assert chat.dialogue_turns({"dialog": b"hi || hello ||  || bye"}, cfg) == want
  cfg.chat_system = "sys"
  assert chat.dialogue_turns({"dialog": ["hi", "hello", "bye"]}, cfg)[0] == ("system", "sys")
  with pytest.raises(ValueError, match="set data.turns_key"):
    chat.dialogue_turns({"text": "x"}, cfg)


def test_dailydialog_files_parse_as_the_source_says(shared_data):
  path = dialogues.split_file(str(shared_data / "dailydialog"), "validation")
  dials = dialogues.read_dialogues(path)
  assert len(dials) == 1000 and sum(map(len, dials)) == 8069  # SOURCE.md's counts
  assert dials[0][0] == "Good morning , sir . Is there a bank near here ?"


def _write_dialogues(directory, dials_by_split):
  os.makedirs(directory, exist_ok=True)
  for split, dials in dials_by_split.items():
    with open(os.path.join(directory, f"dialogues_{split}.txt"), "w") as f:
      for d in dials:
        f.write(" __eou__ ".join(d) + " __eou__\n")
  return directory


def _config(tmp, data_dir, **train):
  c = chat_sft_tiny.get_config()
  c.data.files, c.data.data_dir = data_dir, str(tmp / "tfds")
  c.data.tokenizer, c.data.seq_len, c.data.batch_size = "byte", 128, 8
  c.data.chat_system = "be brief"
  c.model.update(d_model=32, num_layers=2, num_heads=4, mlp_dim=64, max_len=128)
  c.train.update(steps=150, learning_rate=1e-2, end_learning_rate=1e-3, warmup_steps=5,
                 log_every=10, eval_every=150, eval_batches=1, checkpoint_every=150,
                 progress=False, **train)
  c.chat.update(max_new_tokens=30, temperature=0.0)
  return c


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("chat")
  data_dir = _write_dialogues(str(tmp / "dd"), {"train": [DIALOGUE, OTHER] * 4,
                                                "validation": [DIALOGUE]})
  workdir = str(tmp / "run")
  loop.train_and_evaluate(_config(tmp, data_dir), workdir)
  return workdir


def test_builder_records_and_batches(chat_run, tmp_path):
  from train import experiment
  exp_cfg = experiment.load_config(chat_run)
  src = chat.sources.get_source(exp_cfg.data, "train")
  assert len(src) == 8 and [t.decode() for t in src[0]["turns"]] == DIALOGUE
  ds = chat.make_chat_dataset(exp_cfg.data, TOK, "validation", seed=0, train=False)
  batch = next(iter(ds))
  turns = [("system", "be brief")] + list(zip(["user", "assistant"] * 2, DIALOGUE))
  ids, w = chat.encode_turns(TOK, turns)
  np.testing.assert_array_equal(batch["inputs"][0, :len(ids) - 1], ids[:-1])
  np.testing.assert_array_equal(batch["weights"][0, :len(ids) - 1], w[1:])
  assert batch["weights"][1:].sum() == 0  # eval padding rows


def test_sft_memorises_and_the_repl_replies_through_stdin(chat_run):
  rows = [json.loads(l) for l in open(os.path.join(chat_run, "metrics.jsonl"))]
  losses = [r["loss"] for r in rows if r["split"] == "train"]
  assert losses[-1] < 0.1 * losses[0], losses
  from eval import chat as chat_cli
  session = chat_cli.session_from_workdir(chat_run, strategy="greedy")
  out = io.StringIO()
  chat_cli.repl(session, io.StringIO(f"{DIALOGUE[0]}\n{DIALOGUE[2]}\n/reset\n{OTHER[0]}\n"),
                out)
  assert out.getvalue().splitlines() == [DIALOGUE[1], DIALOGUE[3], OTHER[1]]
  assert session.history == [("user", OTHER[0]), ("assistant", OTHER[1])]
  proc = subprocess.run(
      [sys.executable, "-m", "eval.chat", f"--workdir={chat_run}", "--strategy=greedy"],
      cwd=REPO, input=f"{DIALOGUE[0]}\n/exit\n{DIALOGUE[2]}\n", capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.splitlines() == [DIALOGUE[1]]
