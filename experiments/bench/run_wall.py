"""A whole training run, as a user waits for it: attnlab's `train.main` against nanoGPT's
recipe (experiments/bench/torch_gpt.py, run mode), alternating, in one benchmark run.

  python -m experiments.bench.run_wall --torch_python=/tmp/torchenv/bin/python \
      [--config=experiments/configs/gpt_shakespeare_char.py] [--rounds=2] \
      [--compilation_cache=shared] [--config.x=y]

Each side is a fresh process timed from outside: start-up (imports, tokenizer, data), the
compile, every step, the mid-run evaluations, attnlab's final whole-split evaluation,
checkpoints and samples. The dataset is prepared before the first round (a user prepares
it once). JAX's compilation cache is the benchmark's own: `shared` (one for all rounds: the
first attnlab run compiles, later ones load, as a user's rerun of a config does) or `fresh`
(an empty one each round: every run compiles, as a first run on a machine). Peak RSS is
each child's own (wait4). Prints one line per run, then one JSON line: per side the median
wall and the max peak RSS over the rounds, the final validation loss, and the ratios
attnlab / torch.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments.bench import timing
from train import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", "experiments/configs/gpt_shakespeare_char.py",
    "A nanoGPT-shaped char-level config on one text file (data.files).", lock_config=True)
_TORCH_PYTHON = flags.DEFINE_string("torch_python", None,
                                    "A Python with torch installed (nanoGPT's recipe).")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Alternating rounds (attnlab first).")
_CACHE = flags.DEFINE_enum("compilation_cache", "shared", ["shared", "fresh"],
                           "attnlab's JAX compilation cache: one for all rounds, or an "
                           "empty one per round.")
flags.mark_flags_as_required(["torch_python"])

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed_process(argv: list[str], cwd: str, env: Optional[dict] = None) -> dict:
  """Run argv to the end: wall seconds, the child's peak RSS (MiB), its stdout."""
  start = time.perf_counter()
  with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
    pid = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, env=env).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
  if code != 0:
    raise app.UsageError(f"{' '.join(argv[:4])} ... failed (exit {code}): "
                         f"{(stderr.strip().splitlines() or ['no output'])[-1]}")
  return {"wall_s": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "stdout": stdout}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  from train import experiment as experiment_lib  # heavy: after flag parsing

  config = _CONFIG.value
  if config.data.dataset != "text_files" or config.data.tokenizer != "char":
    raise app.UsageError("run_wall compares char-level runs on one text file (nanoGPT's "
                         f"shakespeare_char); got data.dataset={config.data.dataset!r}, "
                         f"data.tokenizer={config.data.tokenizer!r}")
  if not os.path.isfile(config.data.files):
    raise app.UsageError(f"data.files={config.data.files!r} is not a file; give "
                         "--config.data.files=PATH/input.txt")
  root = tempfile.mkdtemp(prefix="run_wall_")
  # prepares the dataset (every split) and the tokenizer, as a user's first run would
  exp = experiment_lib.build(config, os.path.join(root, "vocab"))
  try:  # (torch's run mode counts the file's own characters for its vocabulary)
    settings = json.dumps(timing.torch_gpt_run_config(config, exp.model_config.vocab_size))
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  config_path = os.path.abspath(config_flags.get_config_filename(flags.FLAGS["config"]))
  overrides = [a for a in sys.argv[1:] if a.startswith("--config.")]
  overrides.append(f"--config.data.files={os.path.abspath(config.data.files)}")
  load_before = os.getloadavg()
  sides = {"attnlab": [], "torch": []}
  for r in range(_ROUNDS.value):
    cache = os.path.join(root, "xla" if _CACHE.value == "shared" else f"xla{r}")
    ours = timed_process([sys.executable, "-m", "train.main", f"--config={config_path}",
                          f"--workdir={os.path.join(root, f'run{r}')}",
                          "--config.train.progress=False", *overrides], cwd=_REPO,
                         env={**os.environ, "JAX_COMPILATION_CACHE_DIR": cache})
    with open(os.path.join(root, f"run{r}", "final.json")) as f:
      ours["val_loss"] = json.load(f)["loss"]
    theirs = timed_process([_TORCH_PYTHON.value,
                            os.path.join(_REPO, "experiments", "bench", "torch_gpt.py"),
                            settings], cwd=_REPO)
    inner = json.loads(theirs["stdout"].strip().splitlines()[-1])
    theirs["val_loss"] = inner["evals"][-1]["val"]
    for side, row in (("attnlab", ours), ("torch", theirs)):
      del row["stdout"]
      sides[side].append(row)
      print(f"round {r + 1} {side:8s} {row['wall_s']:7.1f} s  {row['peak_rss_mb']:7.0f} MiB"
            f"  val {row['val_loss']:.4f}", flush=True)
  summary = {side: {"wall_s": round(statistics.median(r["wall_s"] for r in rows), 1),
                    "walls": [round(r["wall_s"], 1) for r in rows],
                    "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rows), 1),
                    "val_loss": [round(r["val_loss"], 4) for r in rows]}
             for side, rows in sides.items()}
  summary["ratio"] = {k: round(summary["attnlab"][k] / summary["torch"][k], 3)
                      for k in ("wall_s", "peak_rss_mb")}
  summary.update(config=os.path.basename(config_path), rounds=_ROUNDS.value,
                 compilation_cache=_CACHE.value,
                 cpus=os.cpu_count(), loadavg_before=[round(x, 2) for x in load_before],
                 loadavg_after=[round(x, 2) for x in os.getloadavg()], workdir=root,
                 **timing.run_setup())  # the runs' allocator too: they start as this one did
  print(json.dumps(summary))


if __name__ == "__main__":
  cli.run(main)
