"""Rebuild a sweep's report from its finished runs.

  python -m experiments.report --workdir=/tmp/sweep_pos

Writes results.csv, results.md, curves.png and final_bar.png into the sweep workdir
(unfinished or failed runs are listed, not fatal).
"""
import os

from absl import app
from absl import flags

from train import cli

from experiments import results

_WORKDIR = flags.DEFINE_string("workdir", None, "A sweep workdir (has sweep.json).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  for path in results.write_report(os.path.abspath(_WORKDIR.value)).values():
    print(path)


if __name__ == "__main__":
  cli.run(main)
