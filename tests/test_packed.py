"""Packed groups (train/packed.py): K runs in one vmapped step, each equal to its run alone."""
import contextlib
import io
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import base
from tests import tiny
from train import experiment
from train import loop
from train import optimizer
from train import packed
from train import partitioning

STEPS = 20


def _config(corpus, seed=0, **train):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir, steps=STEPS, eval_every=10, checkpoint_every=10,
                       eval_batches=1, **train)
  c.seed = seed
  c.sample.num_samples = 0
  return c


def _losses(workdir):
  return [(r["step"], r["loss"]) for r in tiny.metrics_rows(workdir)]


# (a) the optimizer built from traced values equals the one built from the config's numbers

@pytest.mark.parametrize("kw", [
    dict(optimizer="adamw", weight_decay=0.1, grad_clip=0.5),
    dict(optimizer="sgd", momentum=0.9, weight_decay=0.01, grad_clip=0.3),
    dict(optimizer="sgd", momentum=0.0, weight_decay=0.0, grad_clip=0.0)])
def test_optimizer_from_values_equals_the_config_one_under_vmap(kw):
  def train_config(lr):
    t = base.get_config().train
    t.update(dict(steps=30, learning_rate=lr, end_learning_rate=lr / 10, warmup_steps=3), **kw)
    return t
  lrs = [1e-2, 3e-2]
  rng = np.random.default_rng(0)
  params = {"k": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)},
            "n": {"scale": jnp.ones(3)}}
  grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
           for _ in range(4)]
  t = train_config(lrs[0])  # structure; the numbers come from values
  values = {k: jnp.asarray([train_config(lr)[k] for lr in lrs], jnp.float32)
            for k in optimizer.PACKABLE_KEYS}

  def run(values, params):
    tx = optimizer.make_optimizer(t, values=values)
    state = tx.init(params)
    for g in grads:
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
    return params, optimizer.make_schedule(t, values=values)(5)
  stacked = jax.tree.map(lambda x: jnp.stack([x] * len(lrs)), params)
  got, got_lr = jax.jit(jax.vmap(run))(values, stacked)
  for i, lr in enumerate(lrs):
    tx = optimizer.make_optimizer(train_config(lr))
    p, state = params, tx.init(params)
    for g in grads:
      updates, state = tx.update(g, state, p)
      p = optax.apply_updates(p, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=2e-6, atol=1e-7),
                 got, p)
    assert float(got_lr[i]) == pytest.approx(
        float(optimizer.make_schedule(train_config(lr))(5)), rel=1e-6)


def test_values_may_name_only_packable_keys():
  t = base.get_config().train
  with pytest.raises(ValueError, match="train.warmup_steps cannot be a per-run value"):
    optimizer.make_optimizer(t, values={"warmup_steps": 3})


# (b) + (d): one group of 4 runs (2 seeds, 2 learning rates, one diverging)

RUNS = [dict(seed=0, learning_rate=1e-2), dict(seed=1, learning_rate=3e-3),
        dict(seed=0, learning_rate=3e-3), dict(seed=1, learning_rate=1e30)]


@pytest.fixture(scope="module")
def group(corpus, tmp_path_factory):
  root = tmp_path_factory.mktemp("packed")
  configs = [_config(corpus, r["seed"], learning_rate=r["learning_rate"]) for r in RUNS]
  workdirs = [str(root / f"run{i}") for i in range(len(RUNS))]
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    reports = packed.train_group(configs, workdirs)
  return configs, workdirs, reports, err.getvalue()


@pytest.fixture(scope="module")
def alone(corpus, group, tmp_path_factory):
  """Run 1 of the group (its seed and its learning rate differ from run 0's) trained alone
  with train.loop."""
  root = tmp_path_factory.mktemp("alone")
  configs = group[0]
  out = {}
  for i in (1,):
    workdir = str(root / f"run{i}")
    loop.train_and_evaluate(configs[i], workdir)
    out[i] = workdir
  return out


def test_each_packed_run_equals_the_same_run_alone(group, alone):
  _, workdirs, reports, _ = group
  for i, workdir in alone.items():
    got, want = _losses(workdirs[i]), _losses(workdir)
    assert [s for s, _ in got] == [s for s, _ in want] == list(range(1, STEPS + 1))
    np.testing.assert_allclose([l for _, l in got], [l for _, l in want], rtol=0, atol=1e-4)
    with open(os.path.join(workdir, "final.json")) as f:
      final = json.load(f)
    assert set(reports[i]) == set(final)  # the same report keys as a run alone
    assert reports[i]["loss"] == pytest.approx(final["loss"], abs=1e-4)
    evals = [r["loss"] for r in tiny.metrics_rows(workdirs[i], "eval")]
    np.testing.assert_allclose(evals, [r["loss"] for r in tiny.metrics_rows(workdir, "eval")],
                               atol=1e-4)
  # the seeds and the learning rates differ, and learning happened
  finals = [reports[i]["loss"] for i in range(3)]
  assert len(set(finals)) == 3 and max(finals) < 3.0


def test_each_packed_run_is_a_standalone_workdir(group):
  from eval import evaluate
  configs, workdirs, reports, _ = group
  for i in (0, 2):
    saved = json.load(open(os.path.join(workdirs[i], "config.json")))
    assert saved["seed"] == configs[i].seed
    assert saved["train"]["learning_rate"] == configs[i].train.learning_rate
    assert os.path.isdir(os.path.join(workdirs[i], "tokenizer"))
    assert json.load(open(os.path.join(workdirs[i], "environment.json")))[0]["step"] == 0
  report = evaluate.evaluate_workdir(workdirs[2])  # as python -m eval.main --workdir=run2
  assert report["step"] == STEPS
  assert report["loss"] == pytest.approx(reports[2]["loss"], abs=1e-5)


def test_a_diverging_run_is_reported_and_masked(group):
  _, workdirs, reports, err = group
  assert reports[3] is None and not os.path.exists(os.path.join(workdirs[3], "final.json"))
  assert "packed run run3" in err and "masked out of the group" in err
  rows = _losses(workdirs[3])
  assert all(np.isfinite(l) for _, l in rows) and len(rows) < STEPS  # no bad rows written
  assert all(os.path.exists(os.path.join(w, "final.json")) for w in workdirs[:3])


# (c) exact resume, with the run axis on the mesh's data axis

def test_resumed_group_equals_an_uninterrupted_one_on_the_data_axis(corpus, group, tmp_path):
  configs = []
  for r in RUNS[:2]:
    c = _config(corpus, r["seed"], learning_rate=r["learning_rate"])
    c.mesh.data = 2  # 2 runs, one per device of the data axis
    configs.append(c)
  straight = [str(tmp_path / f"straight{i}") for i in range(2)]
  resumed = [str(tmp_path / f"resumed{i}") for i in range(2)]
  packed.train_group(configs, straight)
  assert packed.train_group(configs, resumed, stop_after=7) == [None, None]
  assert [s for s, _ in _losses(resumed[0])] == list(range(1, 8))
  reports = packed.train_group(configs, resumed)
  for a, b in zip(straight, resumed):
    assert _losses(a) == _losses(b)  # bit-exact
  assert reports[0]["loss"] == json.load(open(os.path.join(straight[0], "final.json")))["loss"]
  # the same runs packed with the run axis replicated (the module's group): equal losses
  for i in range(2):
    np.testing.assert_allclose([l for _, l in _losses(straight[i])],
                               [l for _, l in _losses(group[1][i])], atol=1e-4)
  # a finished group is left alone
  assert packed.train_group(configs, resumed)[1]["loss"] == reports[1]["loss"]


def test_a_group_compiles_with_the_configs_cpu_scheduler(corpus, tmp_path):
  """train.xla_cpu_scheduler reaches the group's train step, as it reaches a run's alone."""
  programs = {}
  for name in ("memory", "concurrency"):
    configs = [_config(corpus, seed) for seed in (0, 1)]
    for c in configs:
      c.train.xla_cpu_scheduler = name
    exp = experiment.build(configs[0], str(tmp_path / name))
    group = packed._Group(exp, [packed._run_config(exp.config, c) for c in configs], None)
    batch = next(iter(exp.task.make_dataset(
        exp.config.data, exp.tokenizer, exp.config.data.train_split, seed=0, process_index=0,
        process_count=1, train=True, task_cfg=exp.config.task)))
    with partitioning.mesh_context(exp.mesh, exp.rules):
      lowered = group.train.lower(jax.eval_shape(group.init), group.batch([batch, batch]),
                                  group.values)
    programs[name] = tiny.program_text(lowered.compile())
  assert programs["memory"] != programs["concurrency"]


# (e) what cannot be packed

def test_configs_differing_beyond_packable_keys_are_refused(corpus, tmp_path):
  a, b = _config(corpus), _config(corpus, seed=1)
  b.model.num_layers = 1
  with pytest.raises(ValueError, match=r"run 1 cannot be packed with run 0: model.num_layers "
                                       r"is 1 there and 2 in run 0"):
    packed.train_group([a, b], [str(tmp_path / "a"), str(tmp_path / "b")])
  c = _config(corpus, seed=1, grad_clip=0.0)  # clipping off: another optimizer chain
  with pytest.raises(ValueError, match=r"train.grad_clip > 0 \(clipping on\) is False"):
    packed.train_group([a, c], [str(tmp_path / "a"), str(tmp_path / "c")])
  assert not os.path.exists(tmp_path / "a")  # refused before any workdir is made


def test_an_lstm_group_trains_each_run_as_it_trains_alone(corpus, tmp_path):
  """A packed LSTM group (its init unbatched, once per run: lax.map) trains each run as it
  trains alone. (The hang of the batched init showed at lstm_tiny's size, not this one's:
  a test that hangs would stall CI, so it is not reproduced here.)"""
  configs = [_config(corpus, seed) for seed in (0, 1)]
  for c in configs:
    c.model.family, c.model.d_model, c.model.num_layers = "lstm", 32, 1
    c.train.steps, c.train.warmup_steps, c.train.eval_every = 3, 1, 100
  workdirs = [str(tmp_path / f"run{i}") for i in range(2)]
  packed.train_group(configs, workdirs)
  loop.train_and_evaluate(configs[1], str(tmp_path / "alone"))
  np.testing.assert_allclose([l for _, l in _losses(workdirs[1])],
                             [l for _, l in _losses(str(tmp_path / "alone"))], atol=1e-5)
  assert _losses(workdirs[0]) != _losses(workdirs[1])


def test_runs_flag_parsing_and_overrides(corpus):
  runs = packed.load_runs('[{"workdir": "/tmp/x", "overrides": {"seed": 3, '
                          '"train.learning_rate": 0.5}}]')
  (c,) = packed.run_configs(_config(corpus), runs)
  assert c.seed == 3 and c.train.learning_rate == 0.5
  with pytest.raises(ValueError, match="cannot set train.nope"):
    packed.run_configs(_config(corpus), [{"workdir": "x", "overrides": {"train.nope": 1}}])
  with pytest.raises(ValueError, match="--runs is not JSON"):
    packed.load_runs("a,b")


# experiments.sweep --packed: one process per packing key

SWEEP_CONFIG = """
from tests import tiny

def get_config():
  c = tiny.tiny_config({corpus!r}, {data_dir!r}, steps=8, log_every=4, eval_every=100,
                       checkpoint_every=100, eval_batches=1)
  c.sample.num_samples = 0
  return c
"""


def _sweep_files(tmp_path, corpus, axes):
  path, data_dir = corpus
  (tmp_path / "cfg.py").write_text(SWEEP_CONFIG.format(corpus=path, data_dir=data_dir))
  (tmp_path / "sweep_def.py").write_text(
      f"def get_sweep():\n  return {{'base': {str(tmp_path / 'cfg.py')!r}, 'axes': {axes!r}}}\n")
  return str(tmp_path / "sweep_def.py")


def test_sweep_groups_runs_by_packing_key(corpus, tmp_path):
  from experiments import sweep_spec
  sweep = sweep_spec.load_sweep(_sweep_files(tmp_path, corpus, {
      "model.position": ["learned", "rope"], "train.learning_rate": [1e-2, 3e-3]}))
  runs = sweep_spec.expand(sweep, 2)
  groups = sweep_spec.packed_groups(sweep, runs, str(tmp_path / "w"), "python")
  assert [len(g.runs) for g in groups] == [4, 4]  # one per position, over lr x seed
  for g in groups:
    assert len({name.split(",")[0] for name, _ in g.runs}) == 1
    spec = json.loads(g.argv[-1].split("=", 1)[1])
    assert [s["workdir"] for s in spec] == [d for _, d in g.runs]
    assert {s["overrides"]["seed"] for s in spec} == {0, 1}
  halves = sweep_spec.packed_groups(sweep, runs, str(tmp_path / "w"), "python", parallel=4)
  assert [len(g.runs) for g in halves] == [2, 2, 2, 2]  # 2 processes per packing key
  assert sorted(n for g in halves for n, _ in g.runs) == sorted(r.name for r in runs)


def test_packed_sweep_end_to_end(corpus, tmp_path):
  import subprocess
  import sys
  from experiments import sweep_spec
  sweep_file = _sweep_files(tmp_path, corpus, {"train.learning_rate": [1e-2, 3e-3]})
  workdir = tmp_path / "sweep"
  argv = [sys.executable, "-m", "experiments.sweep", f"--sweep={sweep_file}",
          f"--workdir={workdir}", "--seeds=2", "--packed"]
  proc = subprocess.run(argv, cwd=sweep_spec.REPO_ROOT, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert "[4/4] done" in proc.stdout and len(os.listdir(workdir / "packed")) == 1  # 1 group
  for seed in (0, 1):
    run = workdir / f"learning_rate=0.01,seed={seed}"
    assert json.load(open(run / "final.json"))["loss"] < 4.0
    assert json.load(open(run / "config.json"))["seed"] == seed
    assert "packed group" in (run / "log.txt").read_text()
  assert "| learning_rate=0.01 (baseline) | 2 |" in (workdir / "results.md").read_text()
  again = subprocess.run(argv, cwd=sweep_spec.REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
  assert again.returncode == 0 and again.stdout.count("skipped") == 4
