"""A sweep definition (base config + overrides + named axes) and its expansion into runs.

A sweep file (experiments/sweeps/*.py) defines `get_sweep()` returning a `Sweep` or a dict
with the same fields. Axes are crossed (every combination) or zipped (i-th values together);
each combination is an arm, and every arm runs once per seed. Names depend only on the
definition, so a rerun finds the runs it already finished.

A sweep may have a second stage (`then`): after a run's training finishes, another
`train.main` starts from it (`init_from`) in <run>/<then.dir>, e.g. fine-tuning each
pretrained arm on a downstream task; the sweep's metric is then read from that stage.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import os
import re
from typing import Any, Optional

from experiments import launch


@dataclasses.dataclass(frozen=True)
class Sweep:
  """What to compare: `axes` maps dotted config keys to the values each arm takes."""
  base: str  # config file, relative to the repo root
  axes: dict[str, list]
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)  # every arm
  zip: bool = False  # True: the i-th values of every axis form arm i
  metric: str = "loss"  # key of final.json compared across arms
  higher_is_better: bool = False  # the metric's direction (accuracy: True), for the report
  also: tuple = ()  # more final.json keys tabulated the same way (e.g. a speed)
  power_law_x: str = ""  # final.json size key (e.g. non_embedding_params): fit L(N)
  baseline: Optional[dict[str, Any]] = None  # the arm others are tested against; None: first
  # Second stage, run from each finished run (see then_stage): {"base": config file,
  # "overrides": {...}, "carry": [dotted key prefixes passed on], "dir": subdirectory}.
  then: Optional[dict[str, Any]] = None

  def __post_init__(self):
    object.__setattr__(self, "also", tuple(self.also))  # a JSON list when reloaded
    if self.then is not None:
      object.__setattr__(self, "then", then_stage(self.then))
    lengths = {k: len(v) for k, v in self.axes.items()}
    if any(n == 0 for n in lengths.values()):
      raise ValueError(f"every sweep axis needs at least one value, got lengths {lengths}")
    if self.zip and len(set(lengths.values())) > 1:
      raise ValueError(f"zipped axes must have equal lengths, got {lengths}")
    if self.baseline is not None and set(self.baseline) != set(self.axes):
      raise ValueError(f"baseline must give a value for each axis {sorted(self.axes)}, "
                       f"got {sorted(self.baseline)}")


THEN_DEFAULTS = {"overrides": {}, "carry": [], "dir": "finetune"}


def then_stage(then: dict[str, Any]) -> dict[str, Any]:
  """A `then` stage with its defaults filled in (JSON-stable: lists, not tuples).

  base: the stage's config file; overrides: its config values; carry: prefixes of the
  run's own config values (sweep overrides, arm values) the stage repeats, e.g.
  ["model."] so a fine-tuned model has the pretrained one's shape; dir: its workdir
  inside the run's. The stage also gets the run's seed and init_from=<the run's workdir>.
  """
  unknown = sorted(set(then) - {"base", *THEN_DEFAULTS})
  if unknown or "base" not in then:
    raise ValueError(f"sweep `then` needs 'base' (a config file) and may have "
                     f"{sorted(THEN_DEFAULTS)}; got keys {sorted(then)}")
  out = {**THEN_DEFAULTS, **then}
  out["overrides"] = dict(out["overrides"])
  if isinstance(out["carry"], str):
    raise ValueError(f"sweep `then` carry must be a list of key prefixes, got {out['carry']!r}")
  out["carry"] = list(out["carry"])
  if not out["dir"] or os.sep in out["dir"] or out["dir"].startswith("."):
    raise ValueError(f"sweep `then` dir must be a plain subdirectory name, got {out['dir']!r}")
  return out


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run: an arm at one seed, in workdir/<name>."""
  name: str
  arm: str
  seed: int
  arm_values: dict[str, Any]  # this arm's axis values (dotted key -> value)


def load_sweep(path: str) -> Sweep:
  """Import a sweep file and call its get_sweep()."""
  spec = importlib.util.spec_from_file_location("_sweep_file", path)
  if spec is None or spec.loader is None:
    raise ValueError(f"cannot load sweep file {path}")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  sweep = module.get_sweep()
  return sweep if isinstance(sweep, Sweep) else Sweep(**sweep)


def format_value(value: Any) -> str:
  """A value as the command line and run names spell it."""
  if isinstance(value, bool):
    return "true" if value else "false"
  return str(value)


def _short_keys(keys: list[str]) -> dict[str, str]:
  """The last component of each dotted key, or the full key where two would collide."""
  last = [k.rsplit(".", 1)[-1] for k in keys]
  return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def arm_name(sweep: Sweep, values: dict[str, Any]) -> str:
  """e.g. 'position=rope' or 'family=lstm,d_model=200'; 'base' for a sweep without axes."""
  short = _short_keys(list(sweep.axes))
  name = ",".join(f"{short[k]}={format_value(values[k])}" for k in sweep.axes)
  return re.sub(r"[^A-Za-z0-9._=,+-]", "_", name) or "base"


def arms(sweep: Sweep) -> list[tuple[str, dict[str, Any]]]:
  """(name, axis values) of every arm, in definition order."""
  keys = list(sweep.axes)
  columns = [sweep.axes[k] for k in keys]
  combos = zip(*columns) if sweep.zip else itertools.product(*columns)
  out = [(arm_name(sweep, dict(zip(keys, c))), dict(zip(keys, c))) for c in combos]
  names = [n for n, _ in out]
  if len(set(names)) != len(names):
    raise ValueError(f"sweep arms must differ, got duplicates in {names}")
  return out


def baseline_arm(sweep: Sweep) -> str:
  if sweep.baseline is None:
    return arms(sweep)[0][0]
  name = arm_name(sweep, sweep.baseline)
  if name not in [n for n, _ in arms(sweep)]:
    raise ValueError(f"baseline {sweep.baseline} is not one of the sweep's arms")
  return name


def expand(sweep: Sweep, seeds: int) -> list[Run]:
  """Every arm × seeds 0..seeds-1, seed-major (each seed's arms finish together)."""
  if seeds < 1:
    raise ValueError(f"need at least one seed, got {seeds}")
  return [Run(name=f"{name},seed={seed}", arm=name, seed=seed, arm_values=values)
          for seed in range(seeds) for name, values in arms(sweep)]


def run_overrides(sweep: Sweep, run: Run) -> dict[str, Any]:
  """The config values a run sets: the sweep's overrides, its arm's values, its seed."""
  return {**sweep.overrides, **run.arm_values, "seed": run.seed}


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def base_path(sweep: Sweep) -> str:
  """The base config file; a relative path is relative to the repo root."""
  return os.path.join(REPO_ROOT, sweep.base)


def main_argv(python: str, config: str, workdir: str, overrides: dict[str, Any]) -> list[str]:
  """`python -m train.main` of a config file (relative to the repo root) with overrides."""
  return [python, "-m", "train.main", f"--config={os.path.join(REPO_ROOT, config)}",
          f"--workdir={workdir}"] + [
      f"--config.{k}={format_value(v)}" for k, v in overrides.items()]


def train_argv(sweep: Sweep, run: Run, run_dir: str, python: str) -> list[str]:
  """The `python -m train.main ...` command of one run (run from the repo root)."""
  return main_argv(python, sweep.base, run_dir, run_overrides(sweep, run))


def then_overrides(sweep: Sweep, run: Run, run_dir: str) -> dict[str, Any]:
  """The config values of a run's second stage: carried ones, the stage's, seed, init_from."""
  carried = {k: v for k, v in run_overrides(sweep, run).items()
             if any(k.startswith(p) for p in sweep.then["carry"])}
  return {**carried, **sweep.then["overrides"], "seed": run.seed, "init_from": run_dir}


def stage_dirs(sweep: Sweep, run_dir: str) -> list[str]:
  """The workdir of each stage of a run: its own, then the `then` stage's inside it."""
  return [run_dir] + ([os.path.join(run_dir, sweep.then["dir"])] if sweep.then else [])


def stage_argvs(sweep: Sweep, run: Run, run_dir: str, python: str) -> list[list[str]]:
  """The train.main command of each stage of a run, in order (stage_dirs' workdirs)."""
  argvs = [train_argv(sweep, run, run_dir, python)]
  if sweep.then:
    argvs.append(main_argv(python, sweep.then["base"], stage_dirs(sweep, run_dir)[1],
                            then_overrides(sweep, run, run_dir)))
  return argvs


def job(sweep: Sweep, run: Run, run_dir: str, python: str) -> launch.Job:
  """The run's stages (training, then the `then` stage if any) as one launch job."""
  return launch.chain(run.name, list(zip(stage_argvs(sweep, run, run_dir, python),
                                         stage_dirs(sweep, run_dir))))


def run_config(sweep: Sweep, run: Run) -> Any:
  """The run's config (base config + run_overrides), as train.main would build it."""
  from experiments import sweep_data
  config = sweep_data.load_config(base_path(sweep))
  config.update_from_flattened_dict(run_overrides(sweep, run))
  return config


def packed_groups(sweep: Sweep, runs: list[Run], workdir: str, python: str,
                  parallel: int = 1) -> list[launch.Group]:
  """The runs as packed groups (train/packed.py), one per packing key: runs whose configs
  differ only in seed and train.PACKABLE_KEYS share a group (one process, one jit step);
  arms that change anything else form groups of their own. With fewer groups than
  `parallel` processes, each group is split into up to parallel // groups parts (on a
  CPU, two processes side by side compute faster than one; on one GPU each part only
  compiles the step again: one 12-run process took 48 s where two of 6 took 66 s,
  experiments/bench/RESULTS.md). Each group's log goes to
  WORKDIR/packed/<group id>.log (and then into each of its runs' log.txt)."""
  if sweep.then:
    raise ValueError("--packed does not run a sweep's `then` stage yet; run this sweep "
                     "without --packed")
  from train import packed  # imports jax: only for packed sweeps
  groups: dict[str, list[Run]] = {}
  for run in runs:
    groups.setdefault(packed.group_id(run_config(sweep, run)), []).append(run)
  parts = max(1, parallel // max(1, len(groups)))
  split = {}
  for gid, members in groups.items():
    n = min(parts, len(members))
    for i in range(n):
      split[gid if n == 1 else f"{gid}-{i}"] = members[i::n]
  out = []
  for gid, members in split.items():
    spec = [{"workdir": os.path.join(workdir, r.name), "overrides": run_overrides(sweep, r)}
            for r in members]
    argv = [python, "-m", "train.packed", f"--config={base_path(sweep)}",
            f"--runs={json.dumps(spec)}"]
    out.append(launch.Group(gid, argv, [(r.name, os.path.join(workdir, r.name))
                                        for r in members],
                            os.path.join(workdir, "packed", f"{gid}.log")))
  return out


MANIFEST = "sweep.json"


def save_manifest(workdir: str, sweep: Sweep, seeds: int) -> None:
  """Write workdir/sweep.json (the definition and its runs), so reports need no sweep file.

  A workdir holds one sweep: a different definition there is refused rather than mixed in;
  more seeds of the same definition are fine (and fewer keep the runs already listed).
  """
  path = os.path.join(workdir, MANIFEST)
  if os.path.exists(path):
    old, old_runs = load_manifest(workdir)
    if old != sweep:
      raise ValueError(f"{workdir} already holds a different sweep ({path}); use a new "
                       "--workdir or delete the old one")
    seeds = max(seeds, max(r.seed for r in old_runs) + 1)  # fewer seeds now: keep the rest
  os.makedirs(workdir, exist_ok=True)
  runs = expand(sweep, seeds)
  with open(path, "w") as f:
    json.dump({"sweep": dataclasses.asdict(sweep), "seeds": seeds,
               "runs": [dataclasses.asdict(r) for r in runs]}, f, indent=2)


def load_manifest(workdir: str) -> tuple[Sweep, list[Run]]:
  path = os.path.join(workdir, MANIFEST)
  if not os.path.exists(path):
    raise ValueError(f"{workdir} has no {MANIFEST}: not a sweep workdir (run "
                     "python -m experiments.sweep --workdir=... first)")
  with open(path) as f:
    manifest = json.load(f)
  return Sweep(**manifest["sweep"]), [Run(**r) for r in manifest["runs"]]
