"""Sample from a trained run: python -m eval.generate --workdir=DIR --prompt="def main(".

Strategies: greedy (argmax), sample (temperature), top_k, top_p (nucleus), each with an
optional --repetition_penalty, and beam (--beam_size, --alpha; eval/beam_generate.py); rows end at EOS or a --stop string. Decoding uses the KV cache
in one compiled loop (eval/sampling.py). The same --seed gives the same text.
"""
from absl import app
from absl import flags
from absl import logging

from train import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run's workdir (python -m train.main).")
_PROMPT = flags.DEFINE_string("prompt", "", "Text to continue; empty starts from EOS alone.")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", 200, "Tokens to add (fewer at EOS).")
_STRATEGY = flags.DEFINE_enum("strategy", "sample",
                              ["greedy", "sample", "top_k", "top_p", "beam"],
                              "Decoding strategy.")
_BEAM_SIZE = flags.DEFINE_integer("beam_size", 4, "Hypotheses kept by --strategy=beam.")
_ALPHA = flags.DEFINE_float("alpha", 0.0, "GNMT length penalty of --strategy=beam.")
_TEMPERATURE = flags.DEFINE_float("temperature", 0.8, "Softmax temperature (not for greedy).")
_TOP_K = flags.DEFINE_integer("top_k", 40, "Tokens kept by --strategy=top_k.")
_TOP_P = flags.DEFINE_float("top_p", 0.9, "Probability mass kept by --strategy=top_p.")
_REPETITION_PENALTY = flags.DEFINE_float(
    "repetition_penalty", 1.0, "Divide seen tokens' logits by this (CTRL; 1 = off).")
_STOP = flags.DEFINE_multi_string(
    "stop", [], "Stop string (repeatable; \\n and \\t are newline and tab); cut from the text.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 1, "Continuations to draw.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step; default the latest.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # library INFO logs drown the text
    logging.set_verbosity(logging.ERROR)
  import jax

  from eval import beam_generate
  from eval import sampling

  if _STRATEGY.value == "beam":  # deterministic: one best continuation
    outs = [beam_generate.beam_from_workdir(
        _WORKDIR.value, _PROMPT.value, beam_size=_BEAM_SIZE.value,
        max_new_tokens=_MAX_NEW_TOKENS.value, alpha=_ALPHA.value, step=_STEP.value)]
  else:
    outs = sampling.generate_from_workdir(
        _WORKDIR.value, _PROMPT.value, max_new_tokens=_MAX_NEW_TOKENS.value,
        strategy=_STRATEGY.value, temperature=_TEMPERATURE.value, top_k=_TOP_K.value,
        top_p=_TOP_P.value, num_samples=_NUM_SAMPLES.value, seed=_SEED.value, step=_STEP.value,
        repetition_penalty=_REPETITION_PENALTY.value,
        stop_strings=[s.replace("\\n", "\n").replace("\\t", "\t") for s in _STOP.value])
  if jax.process_index() == 0:
    for i, text in enumerate(outs):
      print(f"=== sample {i} ({_STRATEGY.value}, seed {_SEED.value}) ===\n{_PROMPT.value}{text}\n")


if __name__ == "__main__":
  cli.run(main)
