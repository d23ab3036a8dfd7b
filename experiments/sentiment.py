"""Controlled sentiment generation (Rafailov et al. 2023, DPO, section 6.1) at CPU scale:
PPO, GRPO, DPO and best-of-N on the reward-vs-KL frontier, with an SST-2 classifier as the
gold reward.

  python -m experiments.sentiment --workdir=runs/sentiment --seeds=3 --parallel=2
  python -m experiments.sentiment --workdir=runs/sentiment --stages=plot \
      --out=experiments/results/sentiment

Stages (each skips what a previous invocation finished, so a killed run resumes):
  sft      experiments/configs/sst2_gpt.py: gpt_tiny as a causal LM on the SST-2 training
           sentences: the reference policy, WORKDIR/sft.
  gold     experiments/configs/sst2_gpt_classifier.py, init_from sft: P(positive) is the
           gold reward, WORKDIR/gold.
  prompts  the first --prompt_words words of SST-2 sentences: training prompts from
           train.tsv's longer phrases, evaluation prompts from dev.tsv (held out).
  pairs    DPO's data: --pair_samples reference samples per prompt, the gold reward's best
           against its worst (eval/preference_pairs.py).
  methods  one experiments.sweep definition per method, every arm x --seeds, each run
           followed by its frontier point (eval/reward_kl.py on the evaluation prompts):
           PPO and GRPO optimise the gold reward itself (the paper's PPO-GT), at several KL
           coefficients; DPO learns from the labelled pairs at several betas.
  bon      best-of-N from the reference, the gold reward choosing (an oracle selector),
           KL = log n - (n - 1)/n; and the reference's own point (KL 0).
  rm       proxy reward models (reward_model_tiny.py, init_from sft) on the labelled
           pairs: `rm` on all of them, `rm_small` on the first 128 (PROXIES); best-of-N
           from the reference with each choosing, the gold reward measured.
  overopt  PPO against each proxy with no KL penalty for OVEROPT_STEPS updates, the gold
           and proxy rewards read at every OVEROPT_EVERY-th checkpoint (Gao et al. 2022's
           over-optimisation: the gold reward rises, then falls as the KL grows).
  plot     frontier.png (gold reward vs KL, one point per run, arm means with standard
           errors), frontier.csv and frontier.md; overoptimisation_<proxy>.png/.md; in
           --out (default WORKDIR).
"""
from __future__ import annotations

import os
import sys
from typing import Any, Optional, Sequence

from absl import app
from absl import flags

from experiments.sentiment_spec import DPO_STEPS
from experiments.sentiment_spec import FINAL
from experiments.sentiment_spec import GOLD_SPEC
from experiments.sentiment_spec import METHODS
from experiments.sentiment_spec import OVEROPT_EVERY
from experiments.sentiment_spec import OVEROPT_STEPS
from experiments.sentiment_spec import PROXIES
from experiments.sentiment_spec import RL_STEPS
from experiments.sentiment_spec import RM_STEPS
from experiments.sentiment_spec import make_prompts
from experiments.sentiment_spec import paths
from experiments.sentiment_spec import proxy_paths
from experiments.sentiment_spec import read_sentences
from train import cli

STAGES = ("sft", "gold", "prompts", "pairs", "methods", "bon", "rm", "overopt", "plot")

_WORKDIR = flags.DEFINE_string("workdir", "runs/sentiment", "The experiment's directory.")
_STAGES = flags.DEFINE_list("stages", list(STAGES), f"Stages to run, of {', '.join(STAGES)}.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per arm.")
_PARALLEL = flags.DEFINE_integer("parallel", 2, "Processes at once.")
_SST2 = flags.DEFINE_string("sst2", "../shared/data/sst2", "Directory of train.tsv, dev.tsv.")
_PROMPT_WORDS = flags.DEFINE_integer("prompt_words", 3, "Words per prompt.")
_TRAIN_PROMPTS = flags.DEFINE_integer("train_prompts", 2048, "Training prompts.")
_EVAL_PROMPTS = flags.DEFINE_integer("eval_prompts", 256, "Evaluation prompts (from dev).")
_PAIR_SAMPLES = flags.DEFINE_integer("pair_samples", 4, "Reference samples per DPO prompt.")
_EVAL_SAMPLES = flags.DEFINE_integer("eval_samples", 4, "Samples per evaluation prompt.")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", 32, "Tokens per response.")
_BEST_OF = flags.DEFINE_list("best_of", ["1", "2", "4", "8", "16"], "Best-of-N sizes.")
_BEST_OF_RM = flags.DEFINE_list("best_of_rm", ["1", "2", "4", "8", "16", "32", "64"],
                                "Best-of-N sizes with the reward model choosing.")
_PROXIES = flags.DEFINE_list("proxies", ["rm", "rm_small"],
                             "Proxy reward models the rm and overopt stages train and use.")
_OUT = flags.DEFINE_string("out", None, "Where the plot stage writes (default: WORKDIR).")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the commands and stop.")


def rl_overrides(p: dict[str, str], reward_workdir: str, reward_spec: str,
                 steps: int) -> dict[str, Any]:
  """What every PPO/GRPO run of the experiment sets: the reference, prompts and reward."""
  return {"init_from": p["sft"], "train.progress": False, "train.eval_batches": 1,
          "data.train_files": p["prompts_train"], "data.validation_files": p["prompts_eval"],
          "rl.reward": "workdir", "rl.reward_workdir": reward_workdir,
          "rl.reward_spec": reward_spec, "rl.max_new_tokens": _MAX_NEW_TOKENS.value,
          "train.steps": steps, "train.eval_every": steps}


def method_sweep(method: str, p: dict[str, str]) -> Any:
  """The experiments.sweep definition of one method, reading the prepared runs and files."""
  from experiments import sweep_spec

  spec = METHODS[method]
  if method == "dpo":
    overrides = {"init_from": p["sft"], "train.progress": False, "train.eval_batches": 0,
                 "data.train_files": p["pairs_train"],
                 "data.validation_files": p["pairs_eval"], "train.steps": DPO_STEPS}
  else:
    overrides = rl_overrides(p, p["gold"], GOLD_SPEC, RL_STEPS)
  return sweep_spec.Sweep(base=spec["base"], axes=spec["axes"],
                          overrides={**overrides, **spec.get("overrides", {})}, metric="loss")


def overopt_sweep(p: dict[str, str], proxy_run: str) -> Any:
  """PPO against a learned reward model (the proxy), no KL penalty, checkpoints kept
  every OVEROPT_EVERY updates so the gold reward can be read along the way."""
  from experiments import sweep_spec

  overrides = {**rl_overrides(p, proxy_run, "reward", OVEROPT_STEPS),
               "train.checkpoint_every": OVEROPT_EVERY, "train.keep_checkpoints": 1000}
  return sweep_spec.Sweep(base="experiments/configs/ppo_tiny.py",
                          axes={"rl.kl_coef": [0.0]}, overrides=overrides, metric="loss")


def overopt_steps() -> list[int]:
  return list(range(OVEROPT_EVERY, OVEROPT_STEPS + 1, OVEROPT_EVERY))


def reward_kl_argv(policy: str, p: dict[str, str], out: str, step: Optional[int] = None,
                   proxy: Optional[str] = None) -> list[str]:
  """eval.reward_kl of a policy (at a checkpoint step; with the reward model as proxy)."""
  return [sys.executable, "-m", "eval.reward_kl", f"--policy={policy}",
          f"--reference={p['sft']}", f"--reward={p['gold']}", f"--reward_spec={GOLD_SPEC}",
          f"--prompts={p['prompts_eval']}", f"--samples={_EVAL_SAMPLES.value}",
          f"--max_new_tokens={_MAX_NEW_TOKENS.value}", f"--out={out}"] + (
              [f"--step={step}"] if step is not None else []) + (
              [f"--proxy={proxy}", "--proxy_spec=reward"] if proxy else [])


def method_jobs(method: str, p: dict[str, str], workdir: str) -> list[Any]:
  """Each run of the method's sweep, then its frontier point in <run>/frontier/final.json."""
  return _sweep_jobs(method_sweep(method, p), os.path.join(workdir, method), method,
                     lambda run_dir: [
                         (reward_kl_argv(run_dir, p, os.path.join(run_dir, "frontier", FINAL)),
                          os.path.join(run_dir, "frontier"))])


def overopt_jobs(proxy: str, p: dict[str, str], workdir: str) -> list[Any]:
  """PPO against the proxy, then a point with the proxy's reward at every kept
  checkpoint, <run>/step=S/final.json."""
  q = proxy_paths(workdir, proxy)
  return _sweep_jobs(
      overopt_sweep(p, q["rm"]), q["overopt"], os.path.basename(q["overopt"]),
      lambda run_dir: [(reward_kl_argv(run_dir, p, os.path.join(run_dir, f"step={s}", FINAL),
                                       s, q["rm"]), os.path.join(run_dir, f"step={s}"))
                       for s in overopt_steps()])


def _sweep_jobs(sweep: Any, sweep_dir: str, name: str, evaluations: Any) -> list[Any]:
  """Each run of the sweep (its manifest saved in sweep_dir) chained with the stages
  evaluations(run_dir) gives, as launch jobs."""
  from experiments import launch
  from experiments import sweep_spec

  if not _DRY_RUN.value:
    sweep_spec.save_manifest(sweep_dir, sweep, _SEEDS.value)
  jobs = []
  for run in sweep_spec.expand(sweep, _SEEDS.value):
    run_dir = os.path.join(sweep_dir, run.name)
    stages = [(sweep_spec.train_argv(sweep, run, run_dir, sys.executable), run_dir)]
    jobs.append(launch.chain(f"{name}/{run.name}", stages + evaluations(run_dir)))
  return jobs


def run_jobs(jobs: list[Any]) -> bool:
  """Run (or print, --dry_run) the jobs; True when all finished."""
  from experiments import launch
  from experiments import sweep_spec

  if _DRY_RUN.value:
    for job in jobs:
      for stage in job.stages():
        print(" ".join(stage.argv))
    return True

  def report(o: launch.Outcome) -> None:
    print(f"{o.status:7s} {o.name}" + (f" ({o.seconds:.0f} s)" if o.seconds else ""),
          flush=True)
    if o.status == "failed":
      print(f"  exit code {o.returncode}; last lines of {o.log_path}:\n" + o.log_tail)

  outcomes = launch.run_jobs(jobs, _PARALLEL.value, cwd=sweep_spec.REPO_ROOT,
                             on_outcome=report)
  return all(o.status != "failed" for o in outcomes)


def train_job(name: str, config: str, run_dir: str, overrides: dict[str, Any]) -> Any:
  from experiments import launch
  from experiments import sweep_spec

  argv = sweep_spec.main_argv(sys.executable, config, run_dir,
                               {"train.progress": False, **overrides})
  return launch.Job(name, argv, run_dir)


def write_lines(path: str, lines: Sequence[str]) -> None:
  """The lines as a text file, written atomically (train/workdir.atomic_write)."""
  from train import workdir

  workdir.atomic_write(path, "".join(line + "\n" for line in lines))


def prompts_stage(p: dict[str, str]) -> None:
  train = make_prompts(read_sentences(os.path.join(_SST2.value, "train.tsv")),
                       _PROMPT_WORDS.value, _TRAIN_PROMPTS.value, seed=0, min_words=8)
  evaluation = make_prompts(read_sentences(os.path.join(_SST2.value, "dev.tsv")),
                            _PROMPT_WORDS.value, _EVAL_PROMPTS.value, seed=1)
  write_lines(p["prompts_train"], train)
  write_lines(p["prompts_eval"], evaluation)
  print(f"{len(train)} training prompts, {len(evaluation)} evaluation prompts")


def pairs_argv(p: dict[str, str], split: str) -> list[str]:
  return [sys.executable, "-m", "eval.preference_pairs", f"--policy={p['sft']}",
          f"--reward={p['gold']}", f"--reward_spec={GOLD_SPEC}",
          f"--prompts={p['prompts_' + split]}", f"--num_samples={_PAIR_SAMPLES.value}",
          "--keep=best_worst", f"--max_new_tokens={_MAX_NEW_TOKENS.value}",
          f"--seed={0 if split == 'train' else 1}", f"--out={p['pairs_' + split]}"]


def run_command(argv: list[str], capture: bool = False) -> str:
  """Run one stage's command from the repo root (its stderr shown); its stdout when
  `capture`. A failure is one ValueError naming the command, not a traceback."""
  import subprocess

  from experiments import sweep_spec

  done = subprocess.run(argv, cwd=sweep_spec.REPO_ROOT, text=True,
                        stdout=subprocess.PIPE if capture else None)
  if done.returncode != 0:
    raise ValueError(f"{argv[2]} failed (exit {done.returncode}; its messages "
                     "are above); fix that and rerun: finished stages are kept")
  return done.stdout or ""


def best_of_n(p: dict[str, str], selector: str, spec: str, ns: Sequence[str], out: str,
              gold: bool) -> None:
  """eval.best_of_n from the reference into `out` (JSON lines), unless it is there."""
  if os.path.exists(out):
    return
  argv = [sys.executable, "-m", "eval.best_of_n", f"--policy={p['sft']}",
          f"--reward={selector}", f"--reward_spec={spec}", f"--prompts={p['prompts_eval']}",
          f"--n={','.join(ns)}", f"--max_new_tokens={_MAX_NEW_TOKENS.value}"] + (
              [f"--gold={p['gold']}", f"--gold_spec={GOLD_SPEC}"] if gold else [])
  stdout = run_command(argv, capture=True)
  write_lines(out, [line for line in stdout.splitlines() if line.startswith("{")])


def point_at(p: dict[str, str], out: str, proxy: Optional[str] = None) -> None:
  """The reference's own frontier point (KL 0) into `out`, unless it is there."""
  if not os.path.exists(out):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    run_command(reward_kl_argv(p["sft"], p, out, proxy=proxy))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  unknown = sorted(set(_STAGES.value) - set(STAGES))
  if unknown:
    raise app.UsageError(f"--stages: unknown {unknown}; choose from {', '.join(STAGES)}")
  unknown = sorted(set(_PROXIES.value) - set(PROXIES))
  if unknown:
    raise app.UsageError(f"--proxies: unknown {unknown}; choose from {', '.join(PROXIES)}")
  workdir = os.path.abspath(_WORKDIR.value)
  os.makedirs(workdir, exist_ok=True)
  p = paths(workdir)
  stages = set(_STAGES.value)
  sst2 = os.path.abspath(_SST2.value)
  missing = [f for f in ("train.tsv", "dev.tsv") if not os.path.exists(os.path.join(sst2, f))]
  if stages & {"sft", "gold", "prompts"} and missing:
    raise ValueError(f"--sst2={_SST2.value} has no {' or '.join(missing)}; give the directory "
                     "of SST-2's GLUE TSV files (../shared/data/sst2 beside the repository)")
  if "sft" in stages and not run_jobs(
      [train_job("sft", "experiments/configs/sst2_gpt.py", p["sft"], {"data.files": sst2})]):
    return 1
  if "gold" in stages and not run_jobs(
      [train_job("gold", "experiments/configs/sst2_gpt_classifier.py", p["gold"],
                 {"init_from": p["sft"], "data.files": sst2})]):
    return 1
  if "prompts" in stages and not _DRY_RUN.value:
    prompts_stage(p)
  if "pairs" in stages:
    for split in ("train", "eval"):
      if _DRY_RUN.value:
        print(" ".join(pairs_argv(p, split)))
      elif not os.path.exists(p[f"pairs_{split}"]):
        run_command(pairs_argv(p, split))
  if "methods" in stages:
    jobs = [job for method in METHODS for job in method_jobs(method, p, workdir)]
    jobs.sort(key=lambda job: job.name.rsplit("seed=", 1)[-1])  # every arm's seed 0 first
    if not run_jobs(jobs):
      return 1
  if "bon" in stages and not _DRY_RUN.value:
    point_at(p, p["reference_point"])
    best_of_n(p, p["gold"], GOLD_SPEC, _BEST_OF.value, p["bon"], gold=False)
  for proxy in _PROXIES.value:
    q, pairs = proxy_paths(workdir, proxy), PROXIES[proxy]
    if "rm" in stages:
      if pairs and not _DRY_RUN.value and not os.path.exists(q["pairs"]):
        with open(p["pairs_train"], encoding="utf-8") as f:
          write_lines(q["pairs"], f.read().splitlines()[:pairs])
      if not run_jobs([train_job(proxy, "experiments/configs/reward_model_tiny.py", q["rm"], {
          "init_from": p["sft"], "data.train_files": q["pairs"],
          "data.validation_files": p["pairs_eval"], "data.seq_len": 48,
          "train.steps": RM_STEPS, "train.eval_batches": 0})]):
        return 1
      if not _DRY_RUN.value:
        best_of_n(p, q["rm"], "reward", _BEST_OF_RM.value, q["bon"], gold=True)
    if "overopt" in stages:
      if not _DRY_RUN.value:
        point_at(p, q["reference"], proxy=q["rm"])
      if not run_jobs(overopt_jobs(proxy, p, workdir)):
        return 1
  if "plot" in stages and not _DRY_RUN.value:
    from experiments import sentiment_plot
    out = _OUT.value or workdir
    for path in (sentiment_plot.write(workdir, list(METHODS), out)
                 + [path for proxy in PROXIES for path in sentiment_plot.write_overoptimisation(
                     proxy_paths(workdir, proxy), out, proxy)]):
      print(path)
  return 0


if __name__ == "__main__":
  cli.run(main)
