"""A sweep's report, from its run directories only: results.csv, results.md and the plots.

Everything is read back from files (sweep.json, each run's final.json, metrics.jsonl and
log.txt), so `python -m experiments.report` rebuilds the same report at any time, and a
run that failed or has not finished shows up as such instead of stopping the report.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
from typing import Optional

from experiments import launch
from experiments import power_law
from experiments import stats
from experiments import sweep_plots
from experiments import sweep_spec
from experiments.configs import base as config_schema
from train import metrics_writer
from train import provenance


@dataclasses.dataclass
class RunResult:
  run: sweep_spec.Run
  final: Optional[dict]  # final.json; None when the run has not finished (or failed)
  curve: list[tuple[int, float]]  # (step, eval metric) from metrics.jsonl
  log_tail: str
  final_batches: Optional[int] = None  # train.final_eval_batches of the final (0: whole split)


def _eval_curve(run_dir: str, metric: str) -> list[tuple[int, float]]:
  """Validation `metric` by step from the periodic "eval" rows (train.eval_batches batches).

  The "final_eval" row covers the whole split (or train.final_eval_batches batches), a
  different sample, so it joins the curve only when a run logged no periodic eval.
  """
  points = {"eval": {}, "final_eval": {}}
  for row in metrics_writer.read_rows(os.path.join(run_dir, "metrics.jsonl")):
    if row["split"] in points and metric in row:
      points[row["split"]][int(row["step"])] = float(row[metric])
  return sorted((points["eval"] or points["final_eval"]).items())


FIRST_STAGE = "pretrain/"  # prefix of the first stage's final.json keys in a two-stage run


def _final_batches(run_dir: str) -> Optional[int]:
  """train.final_eval_batches of the run's saved config.json, completed as
  train.experiment.load_config does (keys added since: base.py's defaults); None if the
  run has no config.json."""
  path = os.path.join(run_dir, "config.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return int(config_schema.complete(json.load(f)).train.final_eval_batches)


def final_extent(results: list[RunResult]) -> str:
  """What the finished runs' final evaluation covered, in words."""
  sizes = sorted({r.final_batches for r in results if r.final is not None} - {None})
  words = ["the whole eval split" if n == 0 else f"the first {n} eval batches" for n in sizes]
  return " / ".join(words) if words else "the final evaluation"


def _read_final(run_dir: str) -> dict:
  with open(os.path.join(run_dir, launch.FINAL)) as f:
    return json.load(f)


def load_results(workdir: str) -> tuple[sweep_spec.Sweep, list[RunResult]]:
  """Each run's final.json, curve and (unfinished) log tail, from its last stage.

  With a `then` stage, the run's final is that stage's final.json plus the first stage's
  numbers under "pretrain/..."; an unfinished run shows the log of its first unfinished
  stage.
  """
  sweep, runs = sweep_spec.load_manifest(workdir)
  out = []
  for run in runs:
    dirs = sweep_spec.stage_dirs(sweep, os.path.join(workdir, run.name))
    final = None
    if launch.is_finished(dirs[-1]):
      final = _read_final(dirs[-1])
      if len(dirs) > 1 and launch.is_finished(dirs[0]):
        final = {**{FIRST_STAGE + k: v for k, v in _read_final(dirs[0]).items()}, **final}
    pending = next((d for d in dirs if not launch.is_finished(d)), dirs[-1])
    out.append(RunResult(run, final, _eval_curve(dirs[-1], sweep.metric),
                         "" if final else launch.log_tail(pending),
                         _final_batches(dirs[-1]) if final else None))
  return sweep, out


def write_csv(sweep: sweep_spec.Sweep, results: list[RunResult], path: str) -> str:
  """One row per run: arm, seed, status, axis values, all overrides, final metrics."""
  metric_keys = sorted({k for r in results if r.final for k, v in r.final.items()
                        if isinstance(v, (int, float))})
  fields = ["run", "arm", "seed", "status", *sweep.axes, "overrides", *metric_keys]
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=fields)
    writer.writeheader()
    for r in results:
      row = {"run": r.run.name, "arm": r.run.arm, "seed": r.run.seed,
             "status": "done" if r.final else "missing",
             "overrides": json.dumps(sweep_spec.run_overrides(sweep, r.run), sort_keys=True),
             **r.run.arm_values}
      row.update({k: r.final.get(k, "") for k in metric_keys} if r.final else {})
      writer.writerow(row)
  return path


@dataclasses.dataclass(frozen=True)
class ArmStats:
  arm: str
  summary: stats.Summary
  diff: float  # mean minus the baseline arm's mean
  p_value: float  # Welch's t-test against the baseline arm
  missing: int  # runs of this arm without final.json


def arm_stats(sweep: sweep_spec.Sweep, results: list[RunResult],
              metric: Optional[str] = None) -> list[ArmStats]:
  """Per arm (definition order): summary of `metric` (default: the sweep's) over seeds,
  and vs the baseline."""
  metric = metric or sweep.metric
  values = {name: [] for name, _ in sweep_spec.arms(sweep)}
  missing = {name: 0 for name in values}
  for r in results:
    if r.final and metric in r.final:
      values[r.run.arm].append(float(r.final[metric]))
    else:
      missing[r.run.arm] += 1
  base = values[sweep_spec.baseline_arm(sweep)]
  base_mean = stats.summarize(base).mean
  return [ArmStats(arm, stats.summarize(v), stats.summarize(v).mean - base_mean,
                   stats.welch_p_value(v, base), missing[arm])
          for arm, v in values.items()]


def _fmt(x: float, digits: int = 4) -> str:
  return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _table(rows: list[ArmStats], metric: str, baseline: str,
           higher_is_better: Optional[bool] = None) -> list[str]:
  """One markdown table: each arm's `metric` over seeds and its difference to baseline
  (arm minus baseline; the header says which sign is better when the direction is known)."""
  better = {None: "", True: " (> 0: better)", False: " (< 0: better)"}[higher_is_better]
  lines = [f"| arm | seeds | {metric} mean ± std | 95% CI | Δ vs baseline{better} | "
           "p (Welch) | missing |", "|---|---|---|---|---|---|---|"]
  for a in rows:
    s = a.summary
    is_base = a.arm == baseline
    lines.append(
        f"| {a.arm}{' (baseline)' if is_base else ''} | {s.n} | {_fmt(s.mean)} ± "
        f"{_fmt(s.std)} | [{_fmt(s.ci_low)}, {_fmt(s.ci_high)}] | "
        f"{'—' if is_base else _fmt(a.diff, 4)} | {'—' if is_base else _fmt(a.p_value, 3)} | "
        f"{a.missing} |")
  return lines


def _final_file(sweep: sweep_spec.Sweep) -> str:
  return f"{sweep.then['dir']}/{launch.FINAL}" if sweep.then else launch.FINAL


def _then_lines(sweep: sweep_spec.Sweep) -> list[str]:
  if not sweep.then:
    return []
  t = sweep.then
  return [f"Then each run is continued by `{t['base']}` in `<run>/{t['dir']}/` "
          f"(init_from the run; overrides `{json.dumps(t['overrides'])}`; carried from the "
          f"run: keys starting with {', '.join(f'`{p}`' for p in t['carry']) or 'none'}); "
          f"the first stage's final numbers are tabulated as `{FIRST_STAGE}<key>`."]


def setup_lines(workdir: str, sweep: sweep_spec.Sweep, results: list[RunResult]) -> list[str]:
  """The "Setup" section: the setups (train/provenance.py) the runs' stages recorded in their
  environment.json, and which runs ran on which when there is more than one."""
  runs_of: dict[str, list[str]] = {}
  unrecorded = []
  for r in results:
    starts = [start for d in sweep_spec.stage_dirs(sweep, os.path.join(workdir, r.run.name))
              for start in provenance.read(d)]
    if not starts:
      unrecorded.append(r.run.name)
    for key in dict.fromkeys(json.dumps(provenance.setup_of(s), sort_keys=True)
                             for s in starts):
      runs_of.setdefault(key, []).append(r.run.name)
  lines = ["", "## Setup", ""]
  if len(runs_of) == 1:
    [(key, names)] = runs_of.items()
    lines.append(f"All {len(names)} runs that recorded one ran on one setup: "
                 f"{provenance.summary(json.loads(key))} (each run's environment.json).")
  elif runs_of:
    lines.append(f"The runs ran on {len(runs_of)} setups (each run's environment.json), so "
                 "differences between arms may include the setups' (XLA's numbers change "
                 "with the processor, the libraries and the flags):")
    setups = [json.loads(key) for key in runs_of]
    for i, (setup, names) in enumerate(zip(setups, runs_of.values())):
      differs = provenance.differing(setup, setups[0])
      lines.append(f"- setup {i + 1}: {provenance.summary(setup)}"
                   + (f"; differs from setup 1 in {', '.join(differs)}" if differs else "")
                   + f". Runs: {', '.join(names)}.")
  if unrecorded:
    lines.append(f"{len(unrecorded)} run(s) recorded no setup (no environment.json: not "
                 f"started, or trained before it existed): {', '.join(unrecorded)}.")
  return lines


def write_markdown(sweep: sweep_spec.Sweep, results: list[RunResult], rows: list[ArmStats],
                   workdir: str) -> str:
  """<workdir>/results.md: the tables, the setup, failed runs and the plots' names."""
  baseline = sweep_spec.baseline_arm(sweep)
  m = sweep.metric
  lines = [
      f"# Sweep results: {m}",
      "",
      f"Base config `{sweep.base}`; overrides `{json.dumps(sweep.overrides)}`; axes "
      f"{'zipped' if sweep.zip else 'crossed'}: `{json.dumps(sweep.axes)}`.",
      *_then_lines(sweep),
      f"Final `{m}` ({'higher' if sweep.higher_is_better else 'lower'} is better) from each "
      f"run's {_final_file(sweep)} ({final_extent(results)}), over seeds: mean ± "
      "sample std, 95% CI of the mean (Student's t), and the difference to the baseline "
      f"arm `{baseline}` (arm minus baseline) with a two-sided Welch's t-test p-value.",
      "",
      *_table(rows, m, baseline, sweep.higher_is_better),
      *setup_lines(workdir, sweep, results),
  ]
  for extra in sweep.also:
    lines += ["", f"## {extra}", "", *_table(arm_stats(sweep, results, extra), extra, baseline)]
  fit = _power_law(sweep, results)
  if fit is not None:
    x = sweep.power_law_x
    lines += ["", f"## Power law: {m} vs {x}", "",
              f"Least squares in log-log space over every finished run: {m} = "
              f"({x}_c / {x})^alpha with alpha = {fit.alpha:.4f}, {x}_c = {fit.n_c:.4g}, "
              f"R² = {fit.r2:.3f} (power_law.png). Standard error of alpha "
              f"{fit.alpha_stderr:.4f}, 95% CI {fit.alpha_ci95[0]:.4f} to "
              f"{fit.alpha_ci95[1]:.4f} (t, {fit.dof} df; each run one point)."]
  failed = [r for r in results if not r.final]
  if failed:
    lines += ["", "## Runs without final.json (failed or not finished)", ""]
    for r in failed:
      tail = r.log_tail or "(no log: never started)"
      lines += [f"### {r.run.name}", "", "```", tail, "```", ""]
  lines += ["", f"Plots: curves.png (periodic validation {m} by step, mean and min–max over "
            "seeds), "
            "final_bar.png (final metric, 95% CI error bars, one dot per seed).", ""]
  path = os.path.join(workdir, "results.md")
  with open(path, "w") as f:
    f.write("\n".join(lines))
  return path


def _points(sweep: sweep_spec.Sweep, results: list[RunResult]) -> list[tuple[float, float]]:
  """(size, metric) of every finished run, for the power-law fit."""
  return [(float(r.final[sweep.power_law_x]), float(r.final[sweep.metric]))
          for r in results if r.final and sweep.power_law_x in r.final
          and sweep.metric in r.final]


def _power_law(sweep: sweep_spec.Sweep,
               results: list[RunResult]) -> Optional[power_law.PowerLaw]:
  points = _points(sweep, results) if sweep.power_law_x else []
  if len({n for n, _ in points}) < 2:
    return None
  return power_law.fit_power_law(*zip(*points))


def write_report(workdir: str) -> dict[str, str]:
  """Write results.csv, results.md, curves.png, final_bar.png into the sweep workdir."""
  sweep, results = load_results(workdir)
  rows = arm_stats(sweep, results)
  curves = {name: [r.curve for r in results if r.run.arm == name and r.curve]
            for name, _ in sweep_spec.arms(sweep)}
  per_seed = {a.arm: [float(r.final[sweep.metric]) for r in results
                      if r.run.arm == a.arm and r.final and sweep.metric in r.final]
              for a in rows}
  j = lambda name: os.path.join(workdir, name)  # noqa: E731
  fit = _power_law(sweep, results)
  extra = {} if fit is None else {"power_law": sweep_plots.plot_power_law(
      _points(sweep, results), fit, sweep.power_law_x, sweep.metric, j("power_law.png"))}
  return {**extra,
      "csv": write_csv(sweep, results, j("results.csv")),
      "md": write_markdown(sweep, results, rows, workdir),
      "curves": sweep_plots.plot_curves(curves, sweep.metric, j("curves.png")),
      "bar": sweep_plots.plot_final_bars(
          [(a.arm, a.summary) for a in rows], per_seed, sweep.metric, j("final_bar.png")),
  }
