"""Evaluate a trained run: python -m eval.main --workdir=DIR [--split=validation] [--step=N]
[--best] [--files=PATHS].

Restores the latest (or --step) checkpoint onto the run's own mesh, prints the objective's
metrics (loss, perplexity, accuracy for LMs) on the split and writes them to
<workdir>/eval_<split>.json.
"""
from absl import app
from absl import flags
from absl import logging

from train import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run's workdir (python -m train.main).")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate; default the run's data.eval_split.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step; default the latest.")
_BEST = flags.DEFINE_bool("best", False, "Evaluate the checkpoint kept by train.best_metric.")
_MAX_BATCHES = flags.DEFINE_integer("max_batches", 0, "Stop after this many batches; 0: all.")
_FILES = flags.DEFINE_string(
    "files", None, "Score these text files (comma-separated paths/globs) instead of a split "
    "of the run's data; written to <workdir>/eval_files.json (language models).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # library INFO logs drown the result
    logging.set_verbosity(logging.ERROR)
  import jax

  from eval import evaluate

  report = evaluate.evaluate_workdir(_WORKDIR.value, _SPLIT.value, _STEP.value,
                                     _MAX_BATCHES.value, _BEST.value, _FILES.value)
  if jax.process_index() == 0:
    scores = ", ".join(f"{k} {v:.4f}" for k, v in report.items()  # per objective
                       if isinstance(v, float) and k not in ("tokens", "max_batches"))
    print(f"step {report['step']} {report['split']}: {scores}")
    if "table" in report:  # fine-tuned classifiers: per-class table, report files
      print("\n" + report["table"])
      for path in report["files"].values():
        print(f"  {path}")

  _print_generation(report)


def _print_generation(report: dict) -> None:
  """Seq2seq runs: also decode the split (BLEU, chrF, exact match, sample outputs)."""
  import jax

  from eval import seq2seq
  from train import experiment

  if not seq2seq.is_seq2seq(experiment.load_config(_WORKDIR.value)):
    return
  gen = seq2seq.generate_workdir(_WORKDIR.value, report["split"], report["step"])
  if jax.process_index() == 0:
    print(f"{gen['split']}: BLEU {gen['bleu']:.2f}, chrF {gen['chrf']:.2f}, exact match "
          f"{gen['exact_match']:.4f} ({gen['examples']} examples, beam {gen['beam_size']}, "
          f"alpha {gen['alpha']}); outputs in {_WORKDIR.value}/translations_*.txt")
    for s in gen["samples"][:5]:
      print(f"  source:    {s['source']}\n  reference: {s['reference']}\n"
            f"  output:    {s['output']}\n")


if __name__ == "__main__":
  cli.run(main)
