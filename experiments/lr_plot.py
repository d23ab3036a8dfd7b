"""Learning-rate sensitivity: final loss vs learning rate from one or more lr sweeps.

  python -m experiments.lr_plot /tmp/lrs/adamw /tmp/lrs/sgd \
      --out=experiments/results/lr_sensitivity

Each argument is a finished `experiments.sweep` workdir whose arms differ in
train.learning_rate (other zipped axes, e.g. end_learning_rate = lr/10, are allowed);
--split_by=KEY draws one curve per value of another axis (e.g. model.d_model for a width
study in one workdir). Writes
to --out: lr_sensitivity.png (left: final validation loss vs lr, log x, mean over seeds with
a 95% t-interval, one line per sweep; right: per sweep, the training loss curves of the
lowest, best and highest lr), lr_summary.csv (one row per sweep and lr) and lr_summary.md
(per sweep: the best lr, a bootstrap interval of the argmin, the basin within --basin nats,
and Wortsman et al. 2023's lr sensitivity).

A run without final.json whose log says its packed group masked it out (train/packed.py:
the training loss became NaN/inf) is counted as diverged: drawn as an x at the top of the
left panel with the count, and in the sensitivity metric as the loss of a uniform predictor
ln(vocab_size) (Wortsman et al. cap each loss at the initial loss the same way).
"""
from __future__ import annotations

import csv
import glob
import math
import os
import re
from typing import Optional, Sequence

from absl import app
from absl import flags
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments import launch  # noqa: E402
from experiments import results  # noqa: E402
from experiments import stats  # noqa: E402
from experiments import sweep_data  # noqa: E402
from experiments import sweep_spec  # noqa: E402
from train import metrics_writer  # noqa: E402
from train import cli

LR_KEY = "train.learning_rate"

_OUT = flags.DEFINE_string("out", None, "Directory for the plot and the summary tables.")
_LABELS = flags.DEFINE_list("labels", [], "One label per sweep workdir (default: the base "
                            "config's name and the optimizer).")
_BASIN = flags.DEFINE_float("basin", 0.05, "Basin: learning rates whose mean final loss is "
                            "within this many nats of the best mean.")
_METRIC = flags.DEFINE_string("metric", "loss", "final.json key (lower is better).")
_SOURCE = flags.DEFINE_enum(
    "source", "final", ["final", "train"], "final: final.json (the final evaluation: "
    "the whole split, or train.final_eval_batches batches); train: the training loss "
    "logged at the last step (mean over the last train.log_every steps, on batches seen "
    "once), for runs whose final evaluation is not there.")
_SPLIT_BY = flags.DEFINE_string(
    "split_by", None, "A sweep axis other than the lr (e.g. model.d_model): each of its "
    "values becomes its own curve, as if it were a sweep of its own.")


def diverged_step(run_dir: str, name: str) -> Optional[int]:
  """The step at which train/packed.py masked this run out, from its log.txt or (a group
  stopped before the launcher copied its log) the sweep's packed/*.log; else None."""
  paths = [os.path.join(run_dir, launch.LOG)]
  paths += sorted(glob.glob(os.path.join(os.path.dirname(run_dir), "packed", "*.log")))
  pattern = re.escape(f"packed run {name} (") + r"[^\n]*?by step (\d+)"
  for path in paths:
    if os.path.exists(path):
      with open(path, errors="replace") as f:
        m = re.search(pattern, f.read())
      if m:
        return int(m.group(1))
  return None


def train_curve(run_dir: str, metric: str = "loss") -> list[tuple[int, float]]:
  """(step, training `metric`) from the run's metrics.jsonl "train" rows."""
  path = os.path.join(run_dir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  return sorted((int(r["step"]), float(r[metric]))
                for r in metrics_writer.read_rows(path)
                if r.get("split") == "train" and metric in r)


def load(workdir: str, metric: str, source: str = "final",
         split_by: Optional[str] = None) -> list[dict]:
  """Per curve (the whole sweep, or one per value of the `split_by` axis) and per lr
  (ascending): final values of the finished seeds, diverged and missing counts, and every
  seed's training curve."""
  sweep, runs = results.load_results(workdir)
  for key in (LR_KEY, split_by):
    if key is not None and key not in sweep.axes:
      raise ValueError(f"{workdir}: the sweep has no {key} axis (axes: {list(sweep.axes)})")
  curves: dict = {}
  for r in runs:
    lr = float(r.run.arm_values[LR_KEY])
    part = r.run.arm_values[split_by] if split_by else None
    entry = curves.setdefault(part, {}).setdefault(
        lr, {"values": [], "diverged": [], "missing": 0, "curves": []})
    run_dir = os.path.join(workdir, r.run.name)
    curve = train_curve(run_dir)
    entry["curves"].append(curve)
    if source == "train":
      last = dict(curve).get(int(sweep_spec.run_config(sweep, r.run).train.steps))
      value = last
    else:
      value = (float(r.final[metric]) if r.final is not None and metric in r.final
               else None)
    if value is not None and math.isfinite(value):
      entry["values"].append(value)
    else:
      step = diverged_step(run_dir, r.run.name)
      if step is not None or (r.final is not None):  # a non-finite final counts too
        entry["diverged"].append(step if step is not None else -1)
      else:
        entry["missing"] += 1
  config = sweep_data.load_config(sweep_spec.base_path(sweep))
  config.update_from_flattened_dict(sweep.overrides)
  label = (f"{os.path.splitext(os.path.basename(sweep.base))[0]} "
           f"{config.train.optimizer}")
  final_batches = int(config.train.final_eval_batches)
  evaluated_on = f"{final_batches} batches" if final_batches else "whole split"
  return [{"label": label if part is None else f"{label} {split_by.split('.')[-1]}={part}",
           "by_lr": dict(sorted(by_lr.items())), "vocab_size": int(config.data.vocab_size),
           "workdir": workdir, "evaluated_on": evaluated_on, "split_value": part}
          for part, by_lr in sorted(curves.items(), key=lambda kv: (kv[0] is None, kv[0]))]


def parabola_optimum(lrs: Sequence[float], means: Sequence[float]) -> Optional[float]:
  """The lr at the vertex of a quadratic in log10(lr) fitted to the lowest mean and up to
  two grid neighbours on each side: an optimum finer than the grid. None when the fit is
  not convex or its vertex falls outside the fitted lrs."""
  i = int(np.argmin(means))
  lo, hi = max(0, i - 2), min(len(lrs), i + 3)
  if hi - lo < 3:
    return None
  x = np.log10(np.asarray(lrs[lo:hi], np.float64))
  a, b, _ = np.polyfit(x, np.asarray(means[lo:hi], np.float64), 2)
  vertex = -b / (2 * a) if a > 0 else math.inf
  return float(10 ** vertex) if x[0] <= vertex <= x[-1] else None


def summarize(data: dict, basin: float, rng: np.random.Generator,
              reps: int = 2000) -> dict:
  """Best lr, bootstrap interval of the argmin, basin, Wortsman's lr sensitivity."""
  lrs = list(data["by_lr"])
  rows = []
  for lr in lrs:
    e = data["by_lr"][lr]
    s = stats.summarize(e["values"])
    rows.append({"lr": lr, "n": s.n, "diverged": len(e["diverged"]), "missing": e["missing"],
                 "mean": s.mean, "std": s.std, "ci_low": s.ci_low, "ci_high": s.ci_high})
  # An lr counts for the optimum only if no seed diverged (a mean over survivors flatters it).
  ok = [r for r in rows if r["n"] and not r["diverged"] and not r["missing"]]
  best = min(ok, key=lambda r: r["mean"]) if ok else None
  out = {"label": data["label"], "rows": rows, "best": best}
  if best is None:
    return out
  in_basin = [r["lr"] for r in ok if r["mean"] <= best["mean"] + basin]
  out["basin"] = (min(in_basin), max(in_basin), len(in_basin))
  # Bootstrap over seeds: resample each lr's seeds, take the argmin lr of the means.
  ok_lrs = [r["lr"] for r in ok]
  picks, vertices = [], []
  for _ in range(reps):
    means = [np.mean(rng.choice(data["by_lr"][r["lr"]]["values"], size=r["n"]))
             for r in ok]
    picks.append(ok[int(np.argmin(means))]["lr"])
    vertices.append(parabola_optimum(ok_lrs, means))
  picks = np.array(picks)
  out["argmin_interval"] = (float(np.quantile(picks, 0.025, method="lower")),
                            float(np.quantile(picks, 0.975, method="higher")))
  out["argmin_share"] = float(np.mean(picks == best["lr"]))
  out["vertex"] = parabola_optimum(ok_lrs, [r["mean"] for r in ok])
  fitted = np.log10([v for v in vertices if v is not None])
  out["vertex_interval"] = (tuple(float(10 ** q) for q in np.quantile(fitted, [0.025, 0.975]))
                            if len(fitted) else None)
  out["vertex_share"] = len(fitted) / reps
  out["vertex_samples"] = vertices
  # Wortsman et al. 2023: E_lr[min(L(lr), L0) - min_lr L(lr)], L0 the initial loss; here
  # L0 = ln(vocab) (a uniform predictor), diverged seeds counted as L0.
  l0 = math.log(data["vocab_size"])
  per_lr = []
  for lr in lrs:
    e = data["by_lr"][lr]
    vals = [min(v, l0) for v in e["values"]] + [l0] * len(e["diverged"])
    if vals:
      per_lr.append(np.mean(vals))
  out["sensitivity"] = float(np.mean(per_lr) - min(per_lr))
  out["l0"] = l0
  out["decades"] = math.log10(max(lrs) / min(lrs))
  return out


def plot(datas: Sequence[dict], summaries: Sequence[dict], path: str,
         ylabel: str = "final validation loss") -> str:
  n = len(datas)
  fig, axes = plt.subplots(1, 1 + n, figsize=(6.5 + 4.5 * n, 4.8), squeeze=False)
  ax = axes[0][0]
  top = max((r["ci_high"] if not math.isnan(r["ci_high"]) else r["mean"])
            for s in summaries for r in s["rows"] if r["n"]) if any(
                r["n"] for s in summaries for r in s["rows"]) else 1.0
  bottom = min(r["mean"] for s in summaries for r in s["rows"] if r["n"]) if any(
      r["n"] for s in summaries for r in s["rows"]) else 0.0
  l0 = max(math.log(d["vocab_size"]) for d in datas)
  top = min(top, l0 + 0.2)  # a loss above a uniform predictor's is drawn at the edge
  mark_y = top + 0.08 * max(top - bottom, 0.1)
  ax.axhline(math.log(datas[0]["vocab_size"]), color="gray", ls="--", lw=0.8)
  for i, s in enumerate(summaries):
    color = f"C{i}"
    done = [r for r in s["rows"] if r["n"]]
    x = [r["lr"] for r in done]
    y = [r["mean"] for r in done]
    err = [0.0 if math.isnan(r["ci_high"]) else (r["ci_high"] - r["ci_low"]) / 2 for r in done]
    ax.errorbar(x, y, yerr=err, color=color, marker="o", ms=4, capsize=3, label=s["label"])
    for r in done:  # the seeds as dots
      vals = datas[i]["by_lr"][r["lr"]]["values"]
      ax.scatter([r["lr"]] * len(vals), vals, color=color, s=6, alpha=0.5, zorder=3)
    for r in done:
      if r["mean"] > top:  # off the axis: an arrow at the edge with its value
        ax.scatter([r["lr"]], [top], color=color, marker="^", s=40, zorder=4)
        ax.annotate(f"{r['mean']:.1f}", (r["lr"], top), textcoords="offset points",
                    xytext=(0, -12), ha="center", fontsize=7, color=color)
    for r in s["rows"]:
      if r["diverged"]:
        ax.scatter([r["lr"]], [mark_y], color=color, marker="x", s=50, zorder=4)
        ax.annotate(f"{r['diverged']}/{r['n'] + r['diverged'] + r['missing']} NaN",
                    (r["lr"], mark_y), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=7, color=color)
    if s["best"]:
      ax.axvline(s["best"]["lr"], color=color, ls=":", alpha=0.6)
  ax.set_ylim(bottom - 0.08 * max(top - bottom, 0.1), mark_y + 0.1 * max(top - bottom, 0.1))
  ax.set_xscale("log")
  ax.set_xlabel("peak learning rate (cosine to lr/10)")
  ax.set_ylabel(ylabel)
  ax.set_title("final loss vs lr: mean, 95% CI (t) over seeds; x = diverged (NaN, "
               "masked),\n^ = mean off the axis (value), dashed = uniform predictor ln V",
               fontsize=9)
  ax.grid(alpha=0.3, which="both")
  ax.legend(fontsize=8)
  for i, data in enumerate(datas):
    ax = axes[0][1 + i]
    s = summaries[i]
    lrs = list(data["by_lr"])
    picks = [("lowest", lrs[0]), ("best", s["best"]["lr"] if s["best"] else None),
             ("highest", lrs[-1])]
    for j, (what, lr) in enumerate(picks):
      if lr is None:
        continue
      e = data["by_lr"][lr]
      color = ["C0", "C2", "C3"][j]
      for k, curve in enumerate(e["curves"]):
        if not curve:
          continue
        steps, vals = zip(*curve)
        ax.plot(steps, vals, color=color, alpha=0.8, lw=1,
                label=f"{what} lr={lr:g}" if k == 0 else None)
      for step in e["diverged"]:
        ax.axvline(step, color=color, ls="--", lw=0.8)
    cap = math.log(data["vocab_size"]) + 1.0
    if ax.get_ylim()[1] > cap:  # a blown-up run would flatten the others: log scale
      ax.set_yscale("log")
      ax.axhline(cap - 1.0, color="gray", ls="--", lw=0.8)
      ax.text(0.02, 0.98, "log scale; dashed: ln V (uniform predictor)",
              transform=ax.transAxes, va="top", fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (every seed)")
    ax.set_title(f"{data['label']}: lowest, best, highest lr\n(dashed: step a seed "
                 "diverged)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def _fmt(x: float, d: int = 4) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{d}f}"


def _vertex_line(s: dict) -> str:
  if s["vertex"] is None:
    return ("- quadratic fit in log10(lr) around the best: not convex, or its vertex outside "
            "the fitted lrs")
  lo, hi = s["vertex_interval"]
  return (f"- quadratic fit in log10(lr) over the best and two neighbours each side: optimum "
          f"{s['vertex']:.3g}; 95% of seed bootstraps in [{lo:.3g}, {hi:.3g}] (fit usable in "
          f"{100 * s['vertex_share']:.0f}% of them)")


def write_tables(summaries: Sequence[dict], basin: float, out: str) -> list[str]:
  csv_path = os.path.join(out, "lr_summary.csv")
  with open(csv_path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["sweep", "lr", "n", "diverged", "missing", "mean",
                                      "std", "ci_low", "ci_high"])
    w.writeheader()
    for s in summaries:
      for r in s["rows"]:
        w.writerow({"sweep": s["label"], **r})
  lines = ["# Learning-rate sensitivity (experiments/lr_plot.py)", ""]
  for s in summaries:
    lines += [f"## {s['label']}", "",
              "| lr | seeds done | diverged | missing | final loss mean ± std | 95% CI |",
              "|---|---|---|---|---|---|"]
    for r in s["rows"]:
      best = s["best"] is not None and r["lr"] == s["best"]["lr"]
      mean = f"**{_fmt(r['mean'])}**" if best else _fmt(r["mean"])
      lines.append(f"| {r['lr']:g} | {r['n']} | {r['diverged']} | {r['missing']} | {mean} ± "
                   f"{_fmt(r['std'])} | [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] |")
    lines.append("")
    if s["best"] is None:
      lines += ["No lr finished on every seed.", ""]
      continue
    b = s["best"]
    lo, hi, k = s["basin"]
    a_lo, a_hi = s["argmin_interval"]
    lines += [
        f"- best lr {b['lr']:g}: {_fmt(b['mean'])} (95% CI [{_fmt(b['ci_low'])}, "
        f"{_fmt(b['ci_high'])}]); bootstrap over seeds (2000 resamples): the argmin is "
        f"{b['lr']:g} in {100 * s['argmin_share']:.0f}% of resamples, 95% of them in "
        f"[{a_lo:g}, {a_hi:g}]",
        _vertex_line(s),
        f"- basin within {basin} nats of the best mean: {k} grid lrs, {lo:g} .. {hi:g} "
        f"({math.log10(hi / lo):.2f} decades of the grid's {s['decades']:.2f})",
        f"- lr sensitivity (Wortsman et al. 2023: grid mean of min(L, L0) - best, L0 = "
        f"ln vocab = {s['l0']:.3f}, diverged seeds = L0): {s['sensitivity']:.3f} nats",
        ""]
  md_path = os.path.join(out, "lr_summary.md")
  with open(md_path, "w") as f:
    f.write("\n".join(lines))
  return [csv_path, md_path]


def optimum_scaling(xs: Sequence[float], summaries: Sequence[dict]) -> Optional[dict]:
  """The exponent k of lr* ~ x**k across curves (e.g. x = width; muP's claim under standard
  parameterisation with Adam: k = -1), from each curve's quadratic-fit optimum, with a 95%
  interval over the seed bootstraps; None when a curve has no usable fit."""
  if len(xs) < 2 or any(s.get("vertex") is None for s in summaries):
    return None
  log_x = np.log10(np.asarray(xs, np.float64))
  slope = float(np.polyfit(log_x, np.log10([s["vertex"] for s in summaries]), 1)[0])
  slopes = [np.polyfit(log_x, np.log10(vs), 1)[0]
            for vs in zip(*(s["vertex_samples"] for s in summaries)) if None not in vs]
  interval = tuple(float(q) for q in np.quantile(slopes, [0.025, 0.975])) if slopes else None
  return {"slope": slope, "interval": interval, "bootstraps": len(slopes)}


def scaling_lines(key: str, datas: Sequence[dict], summaries: Sequence[dict]) -> list[str]:
  """lr_summary.md's section on the optimum across the values of the --split_by axis."""
  lines = [f"## The optimum across {key}", ""]
  try:
    xs = [float(d["split_value"]) for d in datas]
  except (TypeError, ValueError):
    return lines + [f"{key}'s values are not numbers; no exponent."]
  scaling = optimum_scaling(xs, summaries)
  if scaling is None or scaling["interval"] is None:
    return lines + ["Not every curve has a usable quadratic fit; no exponent."]
  lo, hi = scaling["interval"]
  return lines + [f"lr* ~ {key}^k, least squares in log-log over the curves' fitted optima: "
                  f"k = {scaling['slope']:.2f}, 95% of {scaling['bootstraps']} seed "
                  f"bootstraps in [{lo:.2f}, {hi:.2f}]."]


def main(argv):
  workdirs = argv[1:]
  if not workdirs or not _OUT.value:
    raise app.UsageError("usage: python -m experiments.lr_plot WORKDIR... --out=DIR")
  datas = [d for w in workdirs for d in load(w, _METRIC.value, _SOURCE.value, _SPLIT_BY.value)]
  if _LABELS.value:
    if len(_LABELS.value) != len(datas):
      raise app.UsageError(f"--labels needs {len(datas)} labels, got {_LABELS.value}")
    for d, label in zip(datas, _LABELS.value):
      d["label"] = label
  rng = np.random.default_rng(0)
  summaries = [summarize(d, _BASIN.value, rng) for d in datas]
  os.makedirs(_OUT.value, exist_ok=True)
  evaluated_on = sorted({d["evaluated_on"] for d in datas})
  ylabel = ("training loss at the last step" if _SOURCE.value == "train" else
            f"final validation {_METRIC.value} ({' / '.join(evaluated_on)})")
  paths = [plot(datas, summaries, os.path.join(_OUT.value, "lr_sensitivity.png"), ylabel)]
  paths += write_tables(summaries, _BASIN.value, _OUT.value)
  if _SPLIT_BY.value:
    with open(paths[-1], "a") as f:
      f.write("\n".join(scaling_lines(_SPLIT_BY.value, datas, summaries)) + "\n")
  for p in paths:
    print(p)
  return 0


if __name__ == "__main__":
  cli.run(main)
