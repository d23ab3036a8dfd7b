"""Train (or resume) a model: python -m train.main --config=CONFIG.py --workdir=DIR.

Any config value can be overridden on the command line, e.g. --config.model.num_layers=2.
Rerunning with the same --workdir resumes from its latest checkpoint.
"""
import os

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from train import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (experiments/configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics, samples.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator", None, "host:port of process 0, for multi-host runs (jax.distributed).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in a multi-host run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index in the run.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # library INFO logs drown the progress bar
    logging.set_verbosity(logging.ERROR)
  import jax  # after flag parsing, so XLA_FLAGS set by the caller apply

  if _COORDINATOR.value or _NUM_PROCESSES.value:
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  from train import loop

  workdir = os.path.abspath(_WORKDIR.value)
  report = loop.train_and_evaluate(_CONFIG.value, workdir)
  if jax.process_index() == 0:
    logging.info("final %s", report)
    scores = ", ".join(f"{k} {v:.4f}" for k, v in report.items()
                       if k not in ("step", "split", "tokens", "params"))  # per objective
    print(f"\n{report['split']} {scores} ({report['params']:,} params)")
    print(f"workdir: {workdir}")
    for name in ("config.json", "metrics.jsonl", "final.json", "loss.png", "samples.txt",
                 "checkpoints", "tokenizer", "tb", "environment.json"):
      if os.path.exists(os.path.join(workdir, name)):
        print(f"  {os.path.join(workdir, name)}")


if __name__ == "__main__":
  cli.run(main)
