"""The reward-vs-KL frontier of experiments/sentiment.py: frontier.png, frontier.csv and
frontier.md from its workdir.

Each method's runs are read from its sweep manifest (WORKDIR/<method>/sweep.json) and their
points from <run>/frontier/final.json (eval/reward_kl.py); best-of-N from
WORKDIR/best_of_n.jsonl and the reference from WORKDIR/reference_point/final.json. Arms
are summarised over seeds: mean and standard error of the runs' mean gold reward and KL.
"""
from __future__ import annotations

import csv
import json
import os
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from eval import policy_eval  # noqa: E402
from experiments import sentiment_spec  # noqa: E402
from experiments import sweep_spec  # noqa: E402

POINT = os.path.join("frontier", "final.json")
COLUMNS = ("method", "arm", "seed", "kl", "kl_se", "reward", "reward_se", "response_length")


def _read(path: str) -> Optional[dict]:
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.loads(f.read().splitlines()[0])


def _read_lines(path: str) -> list[dict]:
  """The JSON lines of a file ([] when it is not there)."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def run_points(workdir: str, methods: Sequence[str]) -> list[dict]:
  """One row (COLUMNS) per finished run of each method's sweep."""
  rows = []
  for method in methods:
    sweep_dir = os.path.join(workdir, method)
    if not os.path.exists(os.path.join(sweep_dir, sweep_spec.MANIFEST)):
      continue
    _, runs = sweep_spec.load_manifest(sweep_dir)
    for run in runs:
      point = _read(os.path.join(sweep_dir, run.name, POINT))
      if point is not None:
        rows.append({"method": method, "arm": run.arm, "seed": run.seed,
                     **{k: point[k] for k in COLUMNS[3:]}})
  return rows


def arm_summary(rows: Sequence[dict]) -> list[dict]:
  """Per (method, arm), in first-seen order: seeds, mean and standard error over seeds of
  KL, gold reward and response length."""
  keys = list(dict.fromkeys((r["method"], r["arm"]) for r in rows))
  out = []
  for method, arm in keys:
    runs = [r for r in rows if (r["method"], r["arm"]) == (method, arm)]
    row = {"method": method, "arm": arm, "seeds": len(runs)}
    for k in ("kl", "reward", "response_length"):
      values = [r[k] for r in runs]
      row[k], row[f"{k}_se"] = policy_eval.mean_and_se(values)
    out.append(row)
  return out


def _plot(summary: list[dict], rows: list[dict], bon: dict[str, list[dict]],
          reference: Optional[dict], path: str) -> str:
  fig, ax = plt.subplots(figsize=(6.5, 4.5))
  colors = dict(zip(dict.fromkeys(r["method"] for r in summary), plt.cm.tab10.colors))
  for method, color in colors.items():
    points = sorted((s for s in summary if s["method"] == method), key=lambda s: s["kl"])
    runs = [r for r in rows if r["method"] == method]
    ax.scatter([r["kl"] for r in runs], [r["reward"] for r in runs], color=color, alpha=0.3,
               s=12)
    ax.errorbar([s["kl"] for s in points], [s["reward"] for s in points],
                xerr=[s["kl_se"] for s in points], yerr=[s["reward_se"] for s in points],
                color=color, marker="o", capsize=3, label=method.upper())
    for s in points:
      ax.annotate(s["arm"].split("=")[-1], (s["kl"], s["reward"]), fontsize=7,
                  xytext=(4, -8), textcoords="offset points", color=color)
  for (label, points), style in zip(bon.items(), ("k--", "k:")):
    ax.plot([b["kl"] for b in points], [b["gold"] for b in points], style, marker="s",
            markersize=4, label=f"best-of-N, {label}")
  if reference is not None:
    ax.errorbar([reference["kl"]], [reference["reward"]], yerr=[reference["reward_se"]],
                color="gray", marker="*", markersize=12, label="reference (SFT)")
  ax.set_xscale("symlog", linthresh=1.0)  # reward hacking reaches KLs of ~100s of nats
  ax.set_xlabel("KL(policy || reference), nats per response (symlog)")
  ax.set_ylabel("gold reward: P(positive)")
  ax.set_title("Controlled sentiment on SST-2 prompts")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def _markdown(summary: list[dict], bon: dict[str, list[dict]],
              reference: Optional[dict]) -> str:
  lines = ["| method | arm | seeds | KL (nats) | gold reward | response tokens |",
           "|---|---|---|---|---|---|"]
  if reference is not None:
    lines.append(f"| reference | sft | 1 | {reference['kl']:.2f} | "
                 f"{reference['reward']:.3f} ± {reference['reward_se']:.3f} | "
                 f"{reference['response_length']:.1f} |")
  for label, points in bon.items():
    lines += [f"| best-of-N, {label} | n={b['n']} | 1 | {b['kl']:.2f} (analytic) | "
              f"{b['gold']:.3f} | |" for b in points]
  for s in summary:
    lines.append(f"| {s['method']} | {s['arm']} | {s['seeds']} | {s['kl']:.2f} ± "
                 f"{s['kl_se']:.2f} | {s['reward']:.3f} ± {s['reward_se']:.3f} | "
                 f"{s['response_length']:.1f} |")
  return "\n".join(lines) + "\n"


def write(workdir: str, methods: Sequence[str], out: str) -> list[str]:
  """frontier.csv (a row per run), frontier.md (per arm) and frontier.png in `out`."""
  os.makedirs(out, exist_ok=True)
  rows = run_points(workdir, methods)
  summary = arm_summary(rows)
  p = sentiment_spec.paths(workdir)
  bon = {}  # label -> rows; the gold chooses (its own score is the reward), or rm does
  for label, path, key in (("gold chooses (oracle)", p["bon"], "reward"),
                           ("reward model chooses",
                            sentiment_spec.proxy_paths(workdir, "rm")["bon"], "gold_reward")):
    rows_n = _read_lines(path)
    if rows_n:
      bon[label] = [{"n": b["n"], "kl": b["kl"], "gold": b[key]} for b in rows_n]
  reference = _read(p["reference_point"])
  csv_path = os.path.join(out, "frontier.csv")
  with open(csv_path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
  md_path = os.path.join(out, "frontier.md")
  with open(md_path, "w") as f:
    f.write(_markdown(summary, bon, reference))
  return [csv_path, md_path, _plot(summary, rows, bon, reference,
                                   os.path.join(out, "frontier.png"))]


def overopt_points(sweep_dir: str, reference: str) -> list[dict]:
  """Per run of the over-optimisation sweep in sweep_dir and kept checkpoint: step, KL,
  gold and proxy reward (the reference's point, the file `reference`, as step 0)."""
  if not os.path.exists(os.path.join(sweep_dir, sweep_spec.MANIFEST)):
    return []
  start = _read(reference)
  _, runs = sweep_spec.load_manifest(sweep_dir)
  rows = []
  for run in runs:
    steps = sorted(int(d.split("=")[1]) for d in os.listdir(os.path.join(sweep_dir, run.name))
                   if d.startswith("step=")) if os.path.isdir(
                       os.path.join(sweep_dir, run.name)) else []
    points = [(0, start)] if start else []
    points += [(s, _read(os.path.join(sweep_dir, run.name, f"step={s}", "final.json")))
               for s in steps]
    rows += [{"seed": run.seed, "step": s, "kl": pt["kl"], "reward": pt["reward"],
              "proxy_reward": pt["proxy_reward"]} for s, pt in points if pt]
  return rows


def _gold_and_proxy(ax, twin, xs, gold, proxy, label: str, style: str = "-") -> None:
  """Gold on ax (left axis, blue), proxy on its twin (right axis, orange)."""
  ax.plot(xs, gold, style, color="tab:blue", marker="o", markersize=3, label=label)
  twin.plot(xs, proxy, style, color="tab:orange", marker="s", markersize=3)
  ax.set_ylabel("gold reward: P(positive)", color="tab:blue")
  twin.set_ylabel("proxy: reward model score", color="tab:orange")


def write_overoptimisation(paths: dict[str, str], out: str, name: str) -> list[str]:
  """overoptimisation_<name>.png (best-of-N chosen by the proxy reward model; PPO
  against it: gold and proxy reward vs sqrt(KL), Gao et al. 2022's axes) and .md, from
  the proxy's files (experiments/sentiment.proxy_paths: bon, overopt, reference)."""
  bon = _read_lines(paths["bon"])
  rows = overopt_points(paths["overopt"], paths["reference"])
  if not bon and not rows:
    return []
  os.makedirs(out, exist_ok=True)
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
  if bon:
    _gold_and_proxy(left, left.twinx(), [np.sqrt(b["kl"]) for b in bon],
                    [b["gold_reward"] for b in bon], [b["reward"] for b in bon], "")
    for b in bon:
      left.annotate(f"n={b['n']}", (np.sqrt(b["kl"]), b["gold_reward"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
  left.set_title(f"best-of-N, reward model {name} choosing")
  left.set_xlabel("sqrt(KL) (analytic KL of best-of-N)")
  styles, twin = ["-", "--", ":", "-."], right.twinx()
  for i, seed in enumerate(sorted({r["seed"] for r in rows})):
    pts = sorted((r for r in rows if r["seed"] == seed), key=lambda r: r["step"])
    _gold_and_proxy(right, twin, [np.sqrt(max(r["kl"], 0.0)) for r in pts],
                    [r["reward"] for r in pts], [r["proxy_reward"] for r in pts],
                    f"seed {seed}", styles[i % len(styles)])
  if rows:
    right.legend(fontsize=8, loc="lower right")
  right.set_title(f"PPO against {name} (no KL penalty)")
  right.set_xlabel("sqrt(KL(policy || reference)), checkpoints every 25 updates")
  fig.tight_layout()
  png = os.path.join(out, f"overoptimisation_{name}.png")
  fig.savefig(png, dpi=120)
  plt.close(fig)
  lines = ["| what | n / step | KL (nats) | gold reward | proxy (reward model) |",
           "|---|---|---|---|---|"]
  lines += [f"| best-of-N | n={b['n']} | {b['kl']:.2f} | {b['gold_reward']:.3f} | "
            f"{b['reward']:.3f} |" for b in bon]
  lines += [f"| PPO seed {r['seed']} | {r['step']} | {r['kl']:.2f} | {r['reward']:.3f} | "
            f"{r['proxy_reward']:.3f} |" for r in sorted(rows, key=lambda r: (r["seed"],
                                                                               r["step"]))]
  md = os.path.join(out, f"overoptimisation_{name}.md")
  with open(md, "w") as f:
    f.write("\n".join(lines) + "\n")
  return [md, png]
