"""Run a sweep (axes × seeds, one process per run) and write its report.

  python -m experiments.sweep --sweep=experiments/sweeps/positional.py \
      --workdir=/tmp/sweep_pos --seeds=3 --parallel=2

Each run trains with `python -m train.main` into WORKDIR/<arm>,seed=<s>/ (its log in log.txt
there). With --packed, runs that differ only in seed and the optimizer numbers of
train/optimizer.PACKABLE_KEYS (learning rates, weight decay, betas, eps, clip, momentum)
train together as one `python -m train.packed` process and one jit step (each group's log
in WORKDIR/packed/, copied into its runs' log.txt); every run still gets its own workdir.
Runs with a final.json are skipped, so rerunning a killed sweep resumes it; a failed run
(a diverged run of a packed group too) is reported with its log tail and the others go on.
A sweep with a `then` stage (e.g. fine-tuning) runs it in WORKDIR/<run>/<then dir>/ after
each run's training; the run is finished once that stage has its final.json. Then WORKDIR
gets results.csv, results.md, curves.png and final_bar.png (as `python -m experiments.report`).
"""
import os
import sys

from absl import app
from absl import flags
from absl import logging

from train import cli

from experiments import launch
from experiments import results
from experiments import sweep_data
from experiments import sweep_spec

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file (experiments/sweeps/*.py).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the sweep: one subdir per run.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per arm (0..seeds-1).")
_PARALLEL = flags.DEFINE_integer("parallel", 1, "Runs at once (each its own process).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the runs' commands and stop.")
_PACKED = flags.DEFINE_bool(
    "packed", False, "Train the runs that differ only in seed and packable optimizer numbers "
    "as one process and one vmapped step (train/packed.py); --parallel then counts "
    "processes (a group is split in parts when there are fewer groups: faster on a CPU; "
    "on one GPU keep --parallel=1, since each part compiles the group's step again).")
flags.mark_flags_as_required(["sweep", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # TFDS INFO logs drown the progress lines
    logging.set_verbosity(logging.WARNING)
  sweep = sweep_spec.load_sweep(_SWEEP.value)
  workdir = os.path.abspath(_WORKDIR.value)
  runs = sweep_spec.expand(sweep, _SEEDS.value)
  jobs = [sweep_spec.job(sweep, r, os.path.join(workdir, r.name), sys.executable)
          for r in runs]
  finished = [r for r, job in zip(runs, jobs) if launch.job_finished(job)]
  groups = (sweep_spec.packed_groups(sweep, [r for r in runs if r not in finished], workdir,
                                     sys.executable, _PARALLEL.value) if _PACKED.value else [])
  if _DRY_RUN.value:
    for argv in ([g.argv for g in groups] if _PACKED.value else
                 [stage.argv for job in jobs for stage in job.stages()]):
      print(" ".join(argv))
    return 0
  sweep_spec.save_manifest(workdir, sweep, _SEEDS.value)
  try:
    sweep_data.prepare(sweep)
  except Exception as e:  # the runs will fail with the full story in their logs
    logging.error("preparing the sweep's data failed (%s: %s)", type(e).__name__, e)

  total, counted = len(jobs), [0]

  def report(outcome: launch.Outcome) -> None:
    counted[0] += 1
    print(f"[{counted[0]}/{total}] {outcome.status:7s} {outcome.name}"
          + (f" ({outcome.seconds:.0f} s)" if outcome.status != "skipped" else ""), flush=True)
    if outcome.status == "failed":
      print(f"  exit code {outcome.returncode}; last lines of {outcome.log_path}:\n"
            + "\n".join("    " + l for l in outcome.log_tail.splitlines()), flush=True)

  if _PACKED.value:
    skipped = [launch.Outcome(r.name, "skipped") for r in finished]
    for outcome in skipped:
      report(outcome)
    outcomes = skipped + launch.run_groups(groups, _PARALLEL.value, cwd=sweep_spec.REPO_ROOT,
                                           on_outcome=report)
  else:
    outcomes = launch.run_jobs(jobs, _PARALLEL.value, cwd=sweep_spec.REPO_ROOT,
                               on_outcome=report)
  paths = results.write_report(workdir)
  failed = [o.name for o in outcomes if o.status == "failed"]
  print(f"\n{total - len(failed)}/{total} runs finished; report:")
  for path in paths.values():
    print(f"  {path}")
  if failed:
    print(f"failed: {', '.join(failed)} (rerun the same command to retry them)")
  return 1 if failed else 0


if __name__ == "__main__":
  cli.run(main)
