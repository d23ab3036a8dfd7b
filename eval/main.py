"""Evaluate a trained run: python -m eval.main --workdir=DIR [--split=validation] [--step=N].

Restores the latest (or --step) checkpoint onto the run's own mesh, prints the objective's
metrics (loss, perplexity, accuracy for LMs) on the split and writes them to
<workdir>/eval_<split>.json.
"""
from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained run's workdir (python -m train.main).")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate; default the run's data.eval_split.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step; default the latest.")
_MAX_BATCHES = flags.DEFINE_integer("max_batches", 0, "Stop after this many batches; 0: all.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # library INFO logs drown the result
    logging.set_verbosity(logging.ERROR)
  import jax

  from eval import evaluate

  report = evaluate.evaluate_workdir(_WORKDIR.value, _SPLIT.value, _STEP.value,
                                     _MAX_BATCHES.value)
  if jax.process_index() == 0:
    scores = ", ".join(f"{k} {v:.4f}" for k, v in report.items()  # per objective
                       if isinstance(v, float) and k not in ("tokens", "max_batches"))
    print(f"step {report['step']} {report['split']}: {scores}")
    if "table" in report:  # fine-tuned classifiers: per-class table, report files
      print("\n" + report["table"])
      for path in report["files"].values():
        print(f"  {path}")


if __name__ == "__main__":
  app.run(main)
