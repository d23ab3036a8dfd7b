"""Chat with a chat_sft run: python -m eval.chat --workdir=DIR [--system="Be brief."].

A terminal REPL: type a turn, the reply streams as it is generated, the history is kept
(cut from the oldest turn when the context fills, data/chat.py). `/reset` forgets the
history, `/exit` (or end of input) quits. Reading from a pipe works too, one user turn
per line, one reply per output line:  printf 'hello\\nhow are you?\\n' | python -m eval.chat ...
Decoding is the KV-cache loop of eval/sampling.py; turn i draws with seed fold_in(seed, i).
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional, TextIO

import jax
from absl import app
from absl import flags
from absl import logging

from train import cli

from data import chat as chat_lib
from eval import restore as restore_lib
from eval import sampling
from train import partitioning


class ChatSession:
  """A dialogue with a trained model: history, template, streaming decode."""

  def __init__(self, exp: Any, params: Any, *, system: str = "", max_new_tokens: int = 64,
               temperature: float = 0.7, top_k: int = 0, top_p: float = 0.9,
               repetition_penalty: float = 1.0, seed: int = 0):
    chat_lib.check_tokenizer(exp.tokenizer)
    max_len = exp.model_config.max_len
    if not 0 < max_new_tokens < max_len - 2:
      raise ValueError(f"max_new_tokens={max_new_tokens} must be in (0, {max_len - 2}): the "
                       f"prompt needs room in the model's {max_len}-token context")
    self.exp, self.params, self.system = exp, params, system
    self.max_new_tokens, self.seed = max_new_tokens, seed
    self.settings = sampling.Settings(temperature, top_k, top_p, repetition_penalty)
    self.history: list[tuple[str, str]] = []
    self.turn = 0
    self._fns = sampling.model_fns(exp.model)

  def reset(self) -> None:
    self.history = []

  def prompt_ids(self, user_text: str) -> list[int]:
    """The template of the history + this turn + `<|assistant|>`, cut to leave the reply room."""
    turns = ([("system", self.system)] if self.system else []) + self.history
    ids, _ = chat_lib.fit_turns(self.exp.tokenizer, turns + [("user", user_text)],
                                  self.exp.model_config.max_len - self.max_new_tokens,
                                  open_assistant=True)
    return ids.tolist()

  def reply(self, user_text: str, on_text: Optional[Callable[[str], None]] = None) -> str:
    """The assistant's answer to `user_text` (streamed to on_text piece by piece)."""
    tok = self.exp.tokenizer
    streamed: list[int] = []
    shown = [0]

    def on_token(tokens_B):
      if tokens_B[0] < 0 or tokens_B[0] in (tok.end_id, tok.eos_id):
        return
      streamed.append(int(tokens_B[0]))
      text = tok.decode(streamed).rstrip("\ufffd")  # a partial UTF-8 char waits a step
      if on_text is not None and len(text) > shown[0]:
        on_text(text[shown[0]:])
        shown[0] = len(text)

    with partitioning.mesh_context(self.exp.mesh):
      out = sampling.decode_tokens(
          self._fns, self.params, [self.prompt_ids(user_text)],
          max_new_tokens=self.max_new_tokens, max_len=self.exp.model_config.max_len,
          vocab_size=self.exp.model_config.vocab_size,
          rng=jax.random.fold_in(jax.random.PRNGKey(self.seed), self.turn),
          settings=self.settings, stop_sequences=[[tok.end_id], [tok.eos_id]],
          on_token=on_token if on_text is not None else None)[0]
    text = tok.decode(out)
    if on_text is not None and len(text) > shown[0]:
      on_text(text[shown[0]:])
    self.history += [("user", user_text), ("assistant", text)]
    self.turn += 1
    return text


def repl(session: ChatSession, stdin: TextIO, stdout: TextIO) -> None:
  """Read turns until /exit or end of input; stream each reply, one line per reply."""
  interactive = stdin.isatty()
  while True:
    if interactive:
      stdout.write("you> ")
      stdout.flush()
    line = stdin.readline()
    if not line:
      break
    text = line.strip()
    if text == "/exit":
      break
    if text == "/reset":
      session.reset()
      if interactive:
        stdout.write("(history cleared)\n")
      continue
    if not text:
      continue
    if interactive:
      stdout.write("bot> ")

    def write(piece: str) -> None:
      stdout.write(piece.replace("\n", " "))
      stdout.flush()
    session.reply(text, on_text=write)
    stdout.write("\n")
    stdout.flush()


def session_from_workdir(workdir: str, step: Optional[int] = None, **overrides) -> ChatSession:
  """A ChatSession over a trained run; settings default to its config's `chat` section."""
  restored = restore_lib.restore_params(workdir, step)
  config = restored.exp.config
  ch = config.chat
  defaults = dict(system=config.data.chat_system, max_new_tokens=ch.max_new_tokens,
                  temperature=ch.temperature, top_p=ch.top_p,
                  repetition_penalty=ch.repetition_penalty)
  defaults.update({k: v for k, v in overrides.items() if v is not None})
  strategy = defaults.pop("strategy", "top_p")
  t, k, p = sampling.strategy_settings(strategy, defaults.pop("temperature"),
                                       defaults.pop("top_k", 0), defaults.pop("top_p"))
  return ChatSession(restored.exp, restored.params, temperature=t, top_k=k, top_p=p,
                     **defaults)


def _define_flags() -> None:
  """Flags only when run as a program: tests import this module next to other entry files."""
  flags.DEFINE_string("workdir", None, "A chat_sft run's workdir.")
  flags.DEFINE_integer("step", None, "Checkpoint step; default the latest.")
  flags.DEFINE_string("system", None, "System turn; default data.chat_system.")
  flags.DEFINE_enum("strategy", "top_p", ["greedy", "sample", "top_k", "top_p"],
                    "Decoding strategy.")
  flags.DEFINE_float("temperature", None, "Default: config chat.temperature.")
  flags.DEFINE_integer("top_k", 40, "Tokens kept by --strategy=top_k.")
  flags.DEFINE_float("top_p", None, "Default: config chat.top_p.")
  flags.DEFINE_float("repetition_penalty", None, "Default: config chat.repetition_penalty.")
  flags.DEFINE_integer("max_new_tokens", None,
                       "Reply budget; default config chat.max_new_tokens.")
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  f = flags.FLAGS
  if not f["verbosity"].present:  # library INFO logs drown the dialogue
    logging.set_verbosity(logging.ERROR)
  session = session_from_workdir(
      f.workdir, f.step, system=f.system, strategy=f.strategy, temperature=f.temperature,
      top_k=f.top_k, top_p=f.top_p, repetition_penalty=f.repetition_penalty,
      max_new_tokens=f.max_new_tokens, seed=f.seed)
  repl(session, sys.stdin, sys.stdout)


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
