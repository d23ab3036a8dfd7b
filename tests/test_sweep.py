"""Sweeps: expansion and names, resume, failures, statistics, the report end to end."""
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from experiments import launch
from experiments import power_law
from experiments import results
from experiments import stats
from experiments import sweep_data
from experiments import sweep_spec
from train import provenance

REPO = sweep_spec.REPO_ROOT


def test_crossed_axes_times_seeds_with_stable_names():
  sweep = sweep_spec.Sweep(base="b.py", axes={"model.position": ["learned", "rope"],
                                              "train.learning_rate": [0.001, 0.003]})
  runs = sweep_spec.expand(sweep, seeds=2)
  assert [r.name for r in runs[:4]] == [
      "position=learned,learning_rate=0.001,seed=0",
      "position=learned,learning_rate=0.003,seed=0",
      "position=rope,learning_rate=0.001,seed=0",
      "position=rope,learning_rate=0.003,seed=0"]
  assert [r.seed for r in runs] == [0] * 4 + [1] * 4  # seed-major
  assert runs == sweep_spec.expand(sweep, seeds=2)
  assert sweep_spec.baseline_arm(sweep) == "position=learned,learning_rate=0.001"
  argv = sweep_spec.train_argv(sweep, runs[6], "/w/r", "py")
  assert argv[:3] == ["py", "-m", "train.main"]
  assert argv[3] == f"--config={os.path.join(REPO, 'b.py')}" and argv[4] == "--workdir=/w/r"
  assert argv[5:] == ["--config.model.position=rope", "--config.train.learning_rate=0.001",
                      "--config.seed=1"]


def test_zipped_axes_and_naming_rules():
  sweep = sweep_spec.Sweep(
      base="b.py", zip=True, overrides={"train.steps": 5},
      axes={"model.family": ["gpt", "lstm"], "model.tie_embeddings": [True, False],
            "train.dropout": [0.0, 0.1], "model.dropout": [0.0, 0.2]},
      baseline={"model.family": "lstm", "model.tie_embeddings": False,
                "train.dropout": 0.1, "model.dropout": 0.2})
  names = [a for a, _ in sweep_spec.arms(sweep)]
  assert names == [
      "family=gpt,tie_embeddings=true,train.dropout=0.0,model.dropout=0.0",
      "family=lstm,tie_embeddings=false,train.dropout=0.1,model.dropout=0.2"]
  assert sweep_spec.baseline_arm(sweep) == names[1]
  run = sweep_spec.expand(sweep, 1)[1]
  assert sweep_spec.run_overrides(sweep, run) == {
      "train.steps": 5, "model.family": "lstm", "model.tie_embeddings": False,
      "train.dropout": 0.1, "model.dropout": 0.2, "seed": 0}
  with pytest.raises(ValueError, match="equal lengths"):
    sweep_spec.Sweep(base="b.py", zip=True, axes={"a.x": [1, 2], "a.y": [1]})
  with pytest.raises(ValueError, match="at least one seed"):
    sweep_spec.expand(sweep, 0)


def test_sweep_file_and_manifest(tmp_path):
  path = tmp_path / "s.py"
  path.write_text("def get_sweep():\n  return {'base': 'b.py', 'axes': {'model.x': [1, 2]}}\n")
  sweep = sweep_spec.load_sweep(str(path))
  sweep_spec.save_manifest(str(tmp_path), sweep, seeds=3)
  sweep_spec.save_manifest(str(tmp_path), sweep, seeds=1)  # fewer seeds keep the listed runs
  loaded, runs = sweep_spec.load_manifest(str(tmp_path))
  assert loaded == sweep and runs == sweep_spec.expand(sweep, 3)
  other = sweep_spec.Sweep(base="b.py", axes={"model.x": [1, 3]})
  with pytest.raises(ValueError, match="different sweep"):
    sweep_spec.save_manifest(str(tmp_path), other, seeds=1)


def _job(tmp_path, name, code):
  """A cheap stand-in for a training run: python -c CODE RUN_DIR."""
  run_dir = str(tmp_path / name)
  return launch.Job(name, [sys.executable, "-c", code, run_dir], run_dir)


def test_finished_runs_are_skipped_and_a_failure_does_not_stop_the_rest(tmp_path):
  finish = ("import json, os, sys; print('trained'); "
            "json.dump({'loss': 1.0}, open(os.path.join(sys.argv[1], 'final.json'), 'w'))")
  fail = "import sys; print('step 1'); print('ValueError: bad override'); sys.exit(3)"
  jobs = [_job(tmp_path, "done_before", finish), _job(tmp_path, "fails", fail),
          _job(tmp_path, "missing", finish)]
  os.makedirs(jobs[0].run_dir)
  open(os.path.join(jobs[0].run_dir, "final.json"), "w").write("{}")
  seen = []
  outcomes = launch.run_jobs(jobs, parallel=2, on_outcome=seen.append)
  assert [o.status for o in outcomes] == ["skipped", "failed", "done"]
  assert outcomes[1].returncode == 3
  assert outcomes[1].log_tail.splitlines()[-2:] == ["step 1", "ValueError: bad override"]
  assert not os.path.exists(os.path.join(jobs[0].run_dir, "log.txt"))  # never relaunched
  assert "trained" in open(os.path.join(jobs[2].run_dir, "log.txt")).read()
  assert sorted(o.name for o in seen) == ["done_before", "fails", "missing"]


def test_parallel_runs_do_not_preallocate_the_gpu(tmp_path, monkeypatch):
  """Two JAX processes on one GPU: each would take 75 % of its memory at start-up."""
  monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
  show = ("import os, sys; open(os.path.join(sys.argv[1], 'env.txt'), 'w')"
          ".write(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE', 'unset'))")
  seen = {}
  for parallel in (1, 2):
    job = _job(tmp_path, f"p{parallel}", show)
    launch.run_jobs([job], parallel=parallel)
    seen[parallel] = open(os.path.join(job.run_dir, "env.txt")).read()
  assert seen == {1: "unset", 2: "false"}
  assert launch.child_env(2, {"XLA_PYTHON_CLIENT_PREALLOCATE": "true"}) == {
      "XLA_PYTHON_CLIENT_PREALLOCATE": "true"}  # the user's choice stands


TWO_STAGE = dict(
    base="b.py", zip=True, overrides={"model.d_model": 64, "train.steps": 10},
    axes={"objective": ["mlm", "electra"], "model.family": ["bert", "electra"]},
    metric="accuracy", higher_is_better=True,
    then={"base": "ft.py", "overrides": {"train.steps": 3}, "carry": ["model."]})


def test_two_stage_sweep_names_dirs_and_commands(tmp_path):
  sweep = sweep_spec.Sweep(**TWO_STAGE)
  assert sweep.then == {"base": "ft.py", "overrides": {"train.steps": 3},
                        "carry": ["model."], "dir": "finetune"}  # defaults filled in
  runs = sweep_spec.expand(sweep, 2)
  assert [r.name for r in runs] == ["objective=mlm,family=bert,seed=0",
                                    "objective=electra,family=electra,seed=0",
                                    "objective=mlm,family=bert,seed=1",
                                    "objective=electra,family=electra,seed=1"]
  assert sweep_spec.stage_dirs(sweep, "/w/r") == ["/w/r", "/w/r/finetune"]
  first, second = sweep_spec.stage_argvs(sweep, runs[3], "/w/r", "py")
  assert first == sweep_spec.train_argv(sweep, runs[3], "/w/r", "py")
  assert second == [  # carried model.* values (sweep's and arm's), the stage's, seed, source
      "py", "-m", "train.main", f"--config={os.path.join(REPO, 'ft.py')}",
      "--workdir=/w/r/finetune", "--config.model.d_model=64",
      "--config.model.family=electra", "--config.train.steps=3", "--config.seed=1",
      "--config.init_from=/w/r"]
  job = sweep_spec.job(sweep, runs[3], "/w/r", "py")
  assert [(j.argv[1:], j.run_dir) for j in job.stages()] == [
      (first[1:], "/w/r"), (second[1:], "/w/r/finetune")]
  assert sweep_spec.stage_argvs(sweep_spec.Sweep(base="b.py", axes={"a.x": [1]}),
                                runs[0], "/w/r", "py") == [
      sweep_spec.train_argv(sweep_spec.Sweep(base="b.py", axes={"a.x": [1]}), runs[0],
                            "/w/r", "py")]  # one stage without `then`
  sweep_spec.save_manifest(str(tmp_path), sweep, seeds=2)  # lists/tuples survive JSON
  assert sweep_spec.load_manifest(str(tmp_path))[0] == sweep
  with pytest.raises(ValueError, match="needs 'base'"):
    sweep_spec.Sweep(base="b.py", axes={"a.x": [1]}, then={"overrides": {}})
  with pytest.raises(ValueError, match="needs 'base'"):
    sweep_spec.Sweep(base="b.py", axes={"a.x": [1]}, then={"base": "f.py", "overides": {}})
  with pytest.raises(ValueError, match="plain subdirectory"):
    sweep_spec.Sweep(base="b.py", axes={"a.x": [1]}, then={"base": "f.py", "dir": "../x"})


def _chain(tmp_path, name, first, second):
  """A two-stage job of python -c stand-ins; the second sees the first's dir as argv[2]."""
  run_dir = str(tmp_path / name)
  stage_dir = os.path.join(run_dir, "finetune")
  return launch.Job(name, [sys.executable, "-c", first, run_dir], run_dir, then=launch.Job(
      name, [sys.executable, "-c", second, stage_dir, run_dir], stage_dir))


def test_two_stage_resume_runs_only_the_missing_stage(tmp_path):
  pretrain = ("import json, os, sys; print('pretrained'); "
              "json.dump({'loss': 2.0}, open(os.path.join(sys.argv[1], 'final.json'), 'w'))")
  finetune = ("import json, os, sys; "
              "assert os.path.exists(os.path.join(sys.argv[2], 'final.json')), 'no stage 1'; "
              "print('fine-tuned'); "
              "json.dump({'accuracy': 0.8}, open(os.path.join(sys.argv[1], 'final.json'), 'w'))")
  fail = "import sys; print('Traceback'); print('ValueError: init_from broke'); sys.exit(2)"
  jobs = [_chain(tmp_path, "both_done", pretrain, finetune),
          _chain(tmp_path, "first_done", pretrain, finetune),
          _chain(tmp_path, "fresh", pretrain, finetune),
          _chain(tmp_path, "first_fails", fail, finetune),
          _chain(tmp_path, "second_fails", pretrain, fail)]
  for job in jobs[:2]:
    for stage in job.stages()[:2 if job.name == "both_done" else 1]:
      os.makedirs(stage.run_dir, exist_ok=True)
      open(os.path.join(stage.run_dir, "final.json"), "w").write("{}")
  outcomes = launch.run_jobs(jobs, parallel=2)
  assert [o.status for o in outcomes] == ["skipped", "done", "done", "failed", "failed"]
  log = lambda job, i: os.path.join(job.stages()[i].run_dir, "log.txt")  # noqa: E731
  assert not os.path.exists(log(jobs[0], 0)) and not os.path.exists(log(jobs[0], 1))
  assert not os.path.exists(log(jobs[1], 0))  # stage 1 was finished: not rerun
  assert "fine-tuned" in open(log(jobs[1], 1)).read()
  assert "pretrained" in open(log(jobs[2], 0)).read()
  assert json.load(open(os.path.join(jobs[2].stages()[1].run_dir, "final.json"))) == {
      "accuracy": 0.8}
  first_fails, second_fails = outcomes[3:]
  assert first_fails.returncode == 2 and first_fails.log_path == log(jobs[3], 0)
  assert first_fails.log_tail.splitlines()[-1] == "ValueError: init_from broke"
  assert not os.path.exists(jobs[3].stages()[1].run_dir)  # never started
  assert second_fails.log_path == log(jobs[4], 1)
  assert second_fails.log_tail.splitlines()[-1] == "ValueError: init_from broke"
  assert launch.is_finished(jobs[4].run_dir) and not launch.job_finished(jobs[4])


def test_two_stage_report_reads_the_metric_from_the_second_stage(tmp_path):
  sweep = sweep_spec.Sweep(**TWO_STAGE)
  sweep_spec.save_manifest(str(tmp_path), sweep, seeds=2)
  accuracy = {"objective=mlm,family=bert": [0.70, 0.72],
              "objective=electra,family=electra": [0.75, None]}
  for arm, values in accuracy.items():
    for seed, acc in enumerate(values):
      run_dir = tmp_path / f"{arm},seed={seed}"
      (run_dir / "finetune").mkdir(parents=True)
      (run_dir / "final.json").write_text(json.dumps({"loss": 3.0 + seed, "accuracy": 0.1}))
      if acc is None:
        (run_dir / "finetune" / "log.txt").write_text("Traceback\nValueError: no fit\n")
        continue
      (run_dir / "finetune" / "final.json").write_text(json.dumps({"accuracy": acc,
                                                                   "loss": 0.5}))
      (run_dir / "finetune" / "metrics.jsonl").write_text(json.dumps(
          {"step": 2, "split": "eval", "accuracy": acc - 0.1}) + "\n")
  paths = results.write_report(str(tmp_path))
  _, loaded = results.load_results(str(tmp_path))
  assert loaded[0].final == {"pretrain/loss": 3.0, "pretrain/accuracy": 0.1,
                             "accuracy": 0.70, "loss": 0.5}
  assert loaded[0].curve == [(2, pytest.approx(0.6))]  # the second stage's eval rows
  assert loaded[3].final is None and "ValueError: no fit" in loaded[3].log_tail
  mlm, electra = results.arm_stats(sweep, loaded)
  assert mlm.summary.mean == pytest.approx(0.71) and electra.summary.n == 1
  assert electra.diff == pytest.approx(0.75 - 0.71) and electra.missing == 1
  rows = list(csv.DictReader(open(paths["csv"])))
  assert float(rows[2]["pretrain/loss"]) == 4.0 and float(rows[2]["accuracy"]) == 0.72
  md = open(paths["md"]).read()
  assert "Final `accuracy` (higher is better) from each run's finetune/final.json" in md
  assert "Δ vs baseline (> 0: better)" in md and "| 0.0400 |" in md
  assert "`<run>/finetune/`" in md and "ValueError: no fit" in md


def test_summary_and_welch_match_hand_computation():
  s = stats.summarize([1.0, 2.0, 3.0, 4.0])
  assert s.n == 4 and s.mean == 2.5
  assert s.std == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5, n-1 = 3
  half = 3.182446305 * math.sqrt(5 / 3) / 2  # t_{0.975, 3} from the table
  assert (s.ci_low, s.ci_high) == pytest.approx((2.5 - half, 2.5 + half), rel=1e-8)
  one = stats.summarize([0.7])
  assert one.mean == 0.7 and math.isnan(one.std) and math.isnan(one.ci_low)
  # Welch: t = (2.5 - 6) / sqrt(5/3/4 + 20/3/4); Welch–Satterthwaite df.
  va, vb = 5 / 3 / 4, 20 / 3 / 4
  t = -3.5 / math.sqrt(va + vb)
  df = (va + vb) ** 2 / (va ** 2 / 3 + vb ** 2 / 3)
  assert t == pytest.approx(-2.4248711) and df == pytest.approx(4.4117647)
  p = stats.welch_p_value([1, 2, 3, 4], [3, 5, 7, 9])
  assert p == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=1e-10)
  assert p == pytest.approx(0.0664586, abs=1e-6)
  assert math.isnan(stats.welch_p_value([1.0], [2.0, 3.0]))


def _fake_sweep_dir(root):
  """A finished-looking sweep: arm A 3 seeds, arm B 2 seeds + one failed run."""
  sweep = sweep_spec.Sweep(base="b.py", axes={"model.position": ["learned", "rope"]},
                           baseline={"model.position": "learned"}, also=("accuracy",))
  sweep_spec.save_manifest(str(root), sweep, seeds=3)
  sweep_spec.save_manifest(str(root), sweep, seeds=3)  # `also` survives the JSON round trip
  finals = {"position=learned": [2.0, 2.2, 2.4], "position=rope": [1.9, 2.0, None]}
  for arm, values in finals.items():
    for seed, value in enumerate(values):
      run_dir = root / f"{arm},seed={seed}"
      run_dir.mkdir()
      if value is None:
        (run_dir / "log.txt").write_text("$ python -m train.main\nTraceback\n"
                                         "ValueError: unknown model.position='bogus'\n")
        continue
      (run_dir / "final.json").write_text(json.dumps(
          {"step": 100, "split": "validation", "loss": value, "perplexity": math.exp(value),
           "accuracy": 0.5, "params": 1000}))
      with open(run_dir / "metrics.jsonl", "w") as f:
        for step, loss in ((50, value + 1.0), (100, value + 0.1)):
          f.write(json.dumps({"step": step, "split": "train", "loss": loss + 5}) + "\n")
          f.write(json.dumps({"step": step, "split": "eval", "loss": loss}) + "\n")
        f.write(json.dumps({"step": 100, "split": "final_eval", "loss": value}) + "\n")
  return sweep


def test_report_on_synthetic_runs(tmp_path):
  _fake_sweep_dir(tmp_path)
  paths = results.write_report(str(tmp_path))
  rows = list(csv.DictReader(open(paths["csv"])))
  assert [(r["arm"], r["seed"], r["status"]) for r in rows] == [
      ("position=learned", "0", "done"), ("position=rope", "0", "done"),
      ("position=learned", "1", "done"), ("position=rope", "1", "done"),
      ("position=learned", "2", "done"), ("position=rope", "2", "missing")]
  assert float(rows[1]["loss"]) == 1.9 and rows[1]["model.position"] == "rope"
  assert json.loads(rows[1]["overrides"]) == {"model.position": "rope", "seed": 0}

  _, loaded = results.load_results(str(tmp_path))
  assert loaded[0].curve == [(50, 3.0), (100, 2.1)]  # the periodic eval rows
  arm_rows = results.arm_stats(*results.load_results(str(tmp_path)))
  learned, rope = arm_rows
  assert learned.summary.mean == pytest.approx(2.2) and learned.summary.std == pytest.approx(0.2)
  half = 4.302652730 * 0.2 / math.sqrt(3)  # t_{0.975, 2}
  assert learned.summary.ci_high == pytest.approx(2.2 + half)
  assert rope.summary.n == 2 and rope.missing == 1
  assert rope.diff == pytest.approx(1.95 - 2.2)
  assert rope.p_value == pytest.approx(
      scipy_stats.ttest_ind([1.9, 2.0], [2.0, 2.2, 2.4], equal_var=False).pvalue)

  md = open(paths["md"]).read()
  assert "| position=learned (baseline) | 3 | 2.2000 ± 0.2000 |" in md
  assert f"[{2.2 - half:.4f}, {2.2 + half:.4f}]" in md
  assert f"| -0.2500 | {rope.p_value:.3f} | 1 |" in md
  assert "position=rope,seed=2" in md and "unknown model.position='bogus'" in md
  assert "## accuracy" in md and "| position=rope | 2 | 0.5000 ± 0.0000 |" in md
  for key in ("curves", "bar"):
    assert os.path.getsize(paths[key]) > 5000


def test_the_report_names_the_setup_and_flags_runs_on_another(tmp_path):
  """One setup: named once. Two: which runs ran on which, and what differs."""
  _fake_sweep_dir(tmp_path)
  xeon = {"processor": {"cpu": "Some Xeon", "isa": ["avx2", "amx_bf16"], "cores": 2},
          "backend": "cpu", "devices": "1 x cpu", "xla_flags": "",
          "libraries": {"jax": "0.10.2", "jaxlib": "0.10.2"},
          "code": {"commit": "0123456789abcdef", "dirty": False}}
  names = ["position=learned,seed=0", "position=learned,seed=1", "position=rope,seed=0"]
  for name in names:
    (tmp_path / name / provenance.FILE).write_text(json.dumps([{"step": 0, **xeon}]))
  md = open(results.write_report(str(tmp_path))["md"]).read()
  assert ("All 3 runs that recorded one ran on one setup: Some Xeon (avx2, amx_bf16; 2 "
          "cores), cpu 1 x cpu, jax 0.10.2 / jaxlib 0.10.2, attnlab 0123456789") in md
  assert "3 run(s) recorded no setup" in md and "position=rope,seed=2" in md

  epyc = {**xeon, "processor": {"cpu": "Some EPYC", "isa": ["avx2"], "cores": 2}}
  (tmp_path / names[2] / provenance.FILE).write_text(  # resumed on another machine
      json.dumps([{"step": 0, **xeon}, {"step": 50, **epyc}]))
  md = open(results.write_report(str(tmp_path))["md"]).read()
  assert "The runs ran on 2 setups" in md
  order = [names[0], names[2], names[1]]  # the manifest's order
  assert f"Runs: {', '.join(order)}." in md  # the resumed run started on the first
  assert "differs from setup 1 in processor. Runs: position=rope,seed=0." in md


TINY_CONFIG = """
from tests import tiny

def get_config():
  c = tiny.tiny_config({corpus!r}, {data_dir!r}, steps=12, log_every=4, eval_every=4,
                       checkpoint_every=100, eval_batches=1)
  c.sample.num_samples = 0
  return c
"""


def test_sweep_end_to_end_with_a_failing_arm(tmp_path):
  from tests import tiny
  corpus = tiny.write_corpus(str(tmp_path))
  (tmp_path / "tiny_cfg.py").write_text(
      TINY_CONFIG.format(corpus=corpus, data_dir=str(tmp_path / "tfds")))
  (tmp_path / "sweep_def.py").write_text(
      f"def get_sweep():\n  return {{'base': {str(tmp_path / 'tiny_cfg.py')!r}, "
      "'axes': {'model.position': ['rope', 'bogus']}}\n")
  workdir = tmp_path / "sweep"
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.sweep", f"--sweep={tmp_path / 'sweep_def.py'}",
       f"--workdir={workdir}", "--seeds=2", "--parallel=2"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1, proc.stdout + proc.stderr  # failures are reported, not hidden
  assert "failed  position=bogus,seed=0" in proc.stdout
  assert "unknown model.position='bogus'" in proc.stdout
  for seed in (0, 1):
    run = workdir / f"position=rope,seed={seed}"
    final = json.load(open(run / "final.json"))
    assert final["loss"] < 3.5 and json.load(open(run / "config.json"))["seed"] == seed
  md = (workdir / "results.md").read_text()
  assert "| position=rope (baseline) | 2 |" in md and "| position=bogus | 0 |" in md
  assert "final.json (the whole eval split)" in md
  assert "All 2 runs that recorded one ran on one setup: " in md  # the failed arm never started
  rows = list(csv.DictReader(open(workdir / "results.csv")))
  assert [r["status"] for r in rows] == ["done", "missing", "done", "missing"]
  losses = [float(r["loss"]) for r in rows if r["status"] == "done"]
  assert losses[0] != losses[1]  # the seeds differ
  assert np.isfinite(losses).all() and (workdir / "curves.png").exists()


@pytest.mark.parametrize("name", sorted(
    f[:-3] for f in os.listdir(os.path.join(sweep_spec.REPO_ROOT, "experiments", "sweeps"))
    if f.endswith(".py") and f not in ("__init__.py", "budget.py")))
def test_every_shipped_sweep_expands_to_valid_configs(name):
  """Each arm of each sweep in experiments/sweeps is a config train.main accepts."""
  from train import experiment
  sweep = sweep_spec.load_sweep(
      os.path.join(sweep_spec.REPO_ROOT, "experiments", "sweeps", f"{name}.py"))
  spec = importlib.util.spec_from_file_location("base_config", sweep_spec.base_path(sweep))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  sweep_spec.baseline_arm(sweep)
  for run in sweep_spec.expand(sweep, 1):
    config = module.get_config()
    config.update_from_flattened_dict(sweep_spec.run_overrides(sweep, run))
    experiment.validate(config)
    if sweep.then:  # the second stage's config too (init_from is checked when it runs)
      stage = sweep_data.load_config(os.path.join(REPO, sweep.then["base"]))
      stage.update_from_flattened_dict(
          {k: v for k, v in sweep_spec.then_overrides(sweep, run, "/r").items()
           if k != "init_from"})
      experiment.validate(stage)


def test_electra_vs_mlm_steps_give_equal_pretraining_flops():
  sweep_file = os.path.join(REPO, "experiments", "sweeps", "electra_vs_mlm.py")
  spec = importlib.util.spec_from_file_location("electra_vs_mlm", sweep_file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  sweep = sweep_spec.load_sweep(sweep_file)
  assert sweep.axes["model.family"] == ["bert", "electra"]  # the mlm and electra arms
  mlm, electra = (module.pretrain_flops_per_token(f) for f in sweep.axes["model.family"])
  # By hand (d 128, 4 layers, mlp 512, V 2049, T 128; generator d 32, mlp 128, 1 head):
  # MLM 6 * (4 * 196608 + 128 * 2049 + 128^2) + 12 * 4 * 128 * 128.
  assert mlm == 6 * (4 * 196608 + 128 * 2049 + 128 ** 2) + 12 * 4 * 128 * 128
  gen = 6 * (4 * 12288 + 128 * 2049 + 2 * 128 * 32) + 12 * 4 * 128 * 32
  assert electra == 6 * (4 * 196608 + 128 ** 2 + 128) + 12 * 4 * 128 * 128 + gen
  assert module.MLM_STEPS == round(module.ELECTRA_STEPS * electra / mlm)
  assert sweep.axes["train.steps"] == [module.MLM_STEPS, module.ELECTRA_STEPS]
  with pytest.raises(ValueError, match="bert or electra"):
    module.pretrain_flops_per_token("gpt")
  long = sweep_spec.load_sweep(os.path.join(REPO, "experiments", "sweeps",
                                            "electra_vs_mlm_long.py"))
  assert long.axes["train.steps"] == [round(2000 * electra / mlm), 2000]  # 4x, same ratio
  assert long.baseline["train.steps"] == round(2000 * electra / mlm)


def test_power_law_fit_recovers_a_known_law():
  n = np.array([1e4, 3e4, 1e5, 3e5, 1e6])
  loss = (5e7 / n) ** 0.2
  fit = power_law.fit_power_law(n, loss)
  assert fit.alpha == pytest.approx(0.2) and fit.n_c == pytest.approx(5e7, rel=1e-6)
  assert fit.r2 == pytest.approx(1.0)
  np.testing.assert_allclose(fit(n), loss)
  assert fit.dof == 3 and fit.alpha_stderr == pytest.approx(0.0, abs=1e-6)
  noisy = loss * np.array([1.01, 0.99, 1.02, 0.98, 1.0])
  noisy_fit = power_law.fit_power_law(n, noisy)  # stderr as scipy's linregress of log-log
  line = scipy_stats.linregress(np.log(n), np.log(noisy))
  assert noisy_fit.alpha_stderr == pytest.approx(line.stderr) and line.stderr > 0
  lo, hi = noisy_fit.alpha_ci95
  half = scipy_stats.t.ppf(0.975, 3) * line.stderr
  assert (lo, hi) == pytest.approx((noisy_fit.alpha - half, noisy_fit.alpha + half))
  with pytest.raises(ValueError, match="2 distinct sizes"):
    power_law.fit_power_law([10, 10], [1.0, 2.0])


def test_report_fits_the_power_law_when_asked(tmp_path):
  sweep = sweep_spec.Sweep(base="b.py", axes={"model.d_model": [32, 64, 128]},
                           power_law_x="non_embedding_params")
  sweep_spec.save_manifest(str(tmp_path), sweep, seeds=2)
  for run in sweep_spec.expand(sweep, 2):
    n = run.arm_values["model.d_model"] ** 2 * 100
    run_dir = tmp_path / run.name
    run_dir.mkdir()
    (run_dir / "final.json").write_text(json.dumps(
        {"loss": (1e9 / n) ** 0.1 * (1 + 0.01 * run.seed), "non_embedding_params": n}))
  paths = results.write_report(str(tmp_path))
  md = open(paths["md"]).read()
  assert "## Power law: loss vs non_embedding_params" in md
  alpha = float(md.split("alpha = ")[1].split(",")[0])
  assert alpha == pytest.approx(0.1, abs=1e-3)
  assert "Standard error of alpha" in md and "95% CI" in md
  assert os.path.getsize(paths["power_law"]) > 5000


def test_the_report_says_what_the_final_evaluation_covered():
  run = sweep_spec.Run(name="a,seed=0", arm="a", seed=0, arm_values={})
  done = lambda n: results.RunResult(run, {"loss": 1.0}, [], "", n)  # noqa: E731
  assert results.final_extent([done(0), done(0)]) == "the whole eval split"
  assert results.final_extent([done(40)]) == "the first 40 eval batches"
  assert results.final_extent([done(0), done(40)]) == ("the whole eval split / the first 40 "
                                                       "eval batches")
  unfinished = results.RunResult(run, None, [], "log", None)
  assert results.final_extent([unfinished]) == "the final evaluation"
