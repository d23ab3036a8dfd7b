"""Fault injection: no crash, signal, second run, bad file or full disk corrupts a workdir.

The entry point runs as a subprocess (python -m train.main) where a signal or the process
exit is part of the case; the rest run in-process. Every interrupted run is compared with
one uninterrupted run of the same config: the same losses at every step, each step once.
"""
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests import tiny
from train import checkpoint as checkpoint_lib
from train import loop
from train import metrics_writer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 60
OVERRIDES = {"train.steps": STEPS, "train.checkpoint_every": 5, "train.eval_every": 100,
             "train.keep_checkpoints": 3, "sample.num_samples": 0}


def config_for(corpus_dir):
  c = tiny.tiny_config(os.path.join(corpus_dir, "corpus.txt"), os.path.join(corpus_dir, "tfds"))
  c.update_from_flattened_dict(OVERRIDES)
  return c


def start(corpus_dir, workdir, *extra):
  """python -m train.main on tests/fixtures/tiny_gpt_config.py with OVERRIDES."""
  cmd = [sys.executable, "-m", "train.main",
         f"--config=tests/fixtures/tiny_gpt_config.py:{corpus_dir}", f"--workdir={workdir}",
         *(f"--config.{k}={v}" for k, v in OVERRIDES.items()), *extra]
  return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def finish(proc, timeout=300):
  out, err = proc.communicate(timeout=timeout)
  return proc.returncode, out, err


def train_steps(workdir):
  return [r["step"] for r in metrics_writer.read_rows(os.path.join(workdir, "metrics.jsonl"))
          if r["split"] == "train"]


def train_losses(workdir):
  return {r["step"]: r["loss"] for r in
          metrics_writer.read_rows(os.path.join(workdir, "metrics.jsonl"))
          if r["split"] == "train"}


def wait_until(predicate, proc, timeout=240, poll=0.002):
  deadline = time.monotonic() + timeout
  while not predicate():
    assert proc.poll() is None, f"the run ended first: {finish(proc)}"
    assert time.monotonic() < deadline, "timed out"
    time.sleep(poll)


def holds_lock(workdir, pid):
  try:
    with open(os.path.join(workdir, ".lock")) as f:
      return json.load(f)["pid"] == pid
  except (OSError, ValueError, KeyError):
    return False


def saving(workdir):
  d = os.path.join(workdir, "checkpoints")
  return os.path.isdir(d) and any("tmp" in n for n in os.listdir(d))


def assert_same_history(workdir, reference, upto=STEPS):
  steps = train_steps(workdir)
  assert steps == list(range(1, upto + 1)), "a step is missing or logged twice"
  want = train_losses(reference)
  got = train_losses(workdir)
  np.testing.assert_allclose([got[s] for s in steps], [want[s] for s in steps],
                             rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
  d = tmp_path_factory.mktemp("faults")
  tiny.write_corpus(str(d))
  return str(d)


@pytest.fixture(scope="module")
def reference(corpus_dir, tmp_path_factory):
  """An uninterrupted run of the same config, in-process."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  loop.train_and_evaluate(config_for(corpus_dir), workdir)
  return workdir


@pytest.fixture(scope="module")
def stopped_at_20(corpus_dir, tmp_path_factory):
  """A run left after step 20 (checkpoints 10, 15, 20), as a preempted job would be."""
  workdir = str(tmp_path_factory.mktemp("stopped"))
  loop.train_and_evaluate(config_for(corpus_dir), workdir, stop_after=20)
  return workdir


def test_sigterm_kill_9_and_a_second_run_leave_the_uninterrupted_history(
    corpus_dir, reference, tmp_path):
  workdir = str(tmp_path / "w")
  rng = random.Random(0)
  # SIGTERM: the step finishes, a checkpoint is saved, exit 128 + 15.
  proc = start(corpus_dir, workdir)
  wait_until(lambda: len(train_steps(workdir)) >= 10, proc)
  proc.send_signal(signal.SIGTERM)
  code, _, err = finish(proc)
  assert code == 143, err
  stopped = int(re.search(r"stopped by SIGTERM at step (\d+), saved", err).group(1))
  assert stopped in checkpoint_lib.finished_steps(os.path.join(workdir, "checkpoints"))
  assert train_steps(workdir) == list(range(1, stopped + 1))
  assert "Traceback" not in err

  # A second run on a held workdir is refused at once, naming the holder.
  holder = start(corpus_dir, workdir)
  wait_until(lambda: len(train_steps(workdir)) > stopped, holder)
  holder.send_signal(signal.SIGSTOP)  # holds the lock while the second run tries
  try:
    code, _, err = finish(start(corpus_dir, workdir))
  finally:
    holder.send_signal(signal.SIGCONT)
  assert code == 2 and f"in use by another run (pid {holder.pid}" in err, err
  assert "Traceback" not in err

  # kill -9 during an asynchronous checkpoint save, then at a random moment.
  wait_until(lambda: saving(workdir), holder, poll=0.0005)
  holder.kill()
  holder.wait()
  proc = start(corpus_dir, workdir)
  wait_until(lambda: holds_lock(workdir, proc.pid), proc, poll=0.05)
  time.sleep(rng.uniform(0.0, 2.0))  # data, compile, steps or saves
  proc.kill()
  proc.wait()

  code, _, err = finish(start(corpus_dir, workdir))
  assert code == 0, err
  assert "took over the lock" in err  # left by kill -9
  assert_same_history(workdir, reference)
  final, want = (json.load(open(os.path.join(d, "final.json"))) for d in (workdir, reference))
  assert final["loss"] == pytest.approx(want["loss"], abs=1e-6)


def test_a_finished_run_rerun_appends_nothing(reference):
  before = {n: open(os.path.join(reference, n), "rb").read()
            for n in ("metrics.jsonl", "config.json", "final.json")}
  report = loop.train_and_evaluate(config_for_workdir(reference), reference)
  assert report == json.load(open(os.path.join(reference, "final.json")))
  for name, data in before.items():
    assert open(os.path.join(reference, name), "rb").read() == data, name


def config_for_workdir(workdir):
  with open(os.path.join(workdir, "config.json")) as f:
    from ml_collections import ConfigDict
    return ConfigDict(json.load(f))


def test_partial_line_and_rows_past_the_checkpoint_are_dropped(
    stopped_at_20, reference, corpus_dir, tmp_path):
  workdir = str(tmp_path / "w")
  shutil.copytree(stopped_at_20, workdir)
  with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:  # logged, never saved
    for step in (21, 22):
      f.write(json.dumps({"step": step, "split": "train", "loss": 9.0}) + "\n")
    f.write('{"step": 23, "split": "tr')  # a kill mid-write
  loop.train_and_evaluate(config_for(corpus_dir), workdir)
  assert_same_history(workdir, reference)
  splits = [r["split"] for r in metrics_writer.read_rows(os.path.join(workdir, "metrics.jsonl"))]
  assert splits.count("final_eval") == 1


def test_rows_of_a_run_killed_before_its_first_checkpoint_are_dropped(
    reference, corpus_dir, tmp_path):
  workdir = str(tmp_path / "w")
  os.makedirs(workdir)
  shutil.copy(os.path.join(reference, "metrics.jsonl"), workdir)  # no checkpoint: fresh
  loop.train_and_evaluate(config_for(corpus_dir), workdir, stop_after=12)
  assert train_steps(workdir) == list(range(1, 13))


def test_a_changed_config_stops_before_anything_is_written(stopped_at_20, corpus_dir):
  files = ("config.json", "metrics.jsonl")
  before = {n: open(os.path.join(stopped_at_20, n), "rb").read() for n in files}
  steps = checkpoint_lib.finished_steps(os.path.join(stopped_at_20, "checkpoints"))
  c = config_for(corpus_dir)
  c.model.num_layers = 1
  c.train.learning_rate = 0.5
  with pytest.raises(ValueError) as e:
    loop.train_and_evaluate(c, stopped_at_20)
  message = str(e.value)
  assert "model.num_layers: saved 2, now 1" in message
  assert "train.learning_rate: saved 0.01, now 0.5" in message
  assert "init_from" in message and len(message.splitlines()) <= 5
  for name, data in before.items():
    assert open(os.path.join(stopped_at_20, name), "rb").read() == data, name
  assert checkpoint_lib.finished_steps(os.path.join(stopped_at_20, "checkpoints")) == steps


def test_a_corrupt_newest_checkpoint_falls_back_to_the_one_before(
    stopped_at_20, reference, corpus_dir, tmp_path, capsys):
  workdir = str(tmp_path / "w")
  shutil.copytree(stopped_at_20, workdir)
  state = os.path.join(workdir, "checkpoints", "20", "state")
  for root, _, names in os.walk(state):
    for name in names:
      open(os.path.join(root, name), "wb").close()  # every file emptied
  loop.train_and_evaluate(config_for(corpus_dir), workdir)
  assert "checkpoint step 20" in capsys.readouterr().err
  moved = os.listdir(os.path.join(workdir, "checkpoints.unrestorable"))
  assert len(moved) == 1 and moved[0].startswith("20-")
  assert_same_history(workdir, reference)  # resumed from 15: same numbers


def test_a_lost_data_position_needs_consent(stopped_at_20, reference, corpus_dir, tmp_path):
  workdir = str(tmp_path / "w")
  shutil.copytree(stopped_at_20, workdir)
  os.remove(os.path.join(workdir, "checkpoints", "20", "data", "process_0-of-1.json"))
  with pytest.raises(ValueError, match="restart_data_order=True"):
    loop.train_and_evaluate(config_for(corpus_dir), workdir)
  c = config_for(corpus_dir)
  c.train.restart_data_order = True
  loop.train_and_evaluate(c, workdir)
  assert train_steps(workdir) == list(range(1, STEPS + 1))
  # the history up to the checkpoint is kept; the new data order changes what follows
  assert train_losses(workdir)[20] == train_losses(reference)[20]


def _can_mount_tmpfs():
  probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                         capture_output=True)
  return shutil.which("unshare") and probe.returncode == 0


def test_a_full_disk_keeps_the_earlier_checkpoints_and_says_so(
    corpus_dir, reference, tmp_path, monkeypatch):
  workdir = str(tmp_path / "w")
  if _can_mount_tmpfs():  # a real full disk: room for one checkpoint and a half
    small = str(tmp_path / "small")
    os.makedirs(small)
    last = os.path.join(reference, "checkpoints", str(STEPS))
    size_kb = int(1.5 * int(subprocess.check_output(["du", "-sk", last]).split()[0])) + 200
    script = (f"mount -t tmpfs -o size={size_kb}k tmpfs {small} && "
              f"{sys.executable} -m train.main --config=tests/fixtures/tiny_gpt_config.py:"
              f"{corpus_dir} --workdir={small}/w --config.train.checkpoint_every=20 "
              f"--config.train.steps={STEPS} --config.train.eval_every=100 "
              f"--config.sample.num_samples=0; code=$?; cp -a {small}/w {workdir}; exit $code")
    run = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    code, err = run.returncode, run.stderr
    # No traceback through attnlab's code. (Tensorstore's writer threads may print
    # "Event loop is closed" tracebacks of their own while the failed save unwinds.)
    assert code == 2 and os.path.join(REPO, "train") not in err, err
  else:  # no mount namespace here: the disk fills at the third save
    real_save = ocp.CheckpointManager.save
    calls = []

    def save(self, step, *args, **kwargs):
      calls.append(step)
      if len(calls) == 3:
        self.wait_until_finished()  # the earlier save completes, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")
      return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    c = config_for(corpus_dir)
    c.train.checkpoint_every = 20
    with pytest.raises(ValueError) as e:
      loop.train_and_evaluate(c, workdir)
    err = str(e.value)
    monkeypatch.undo()
  kept = checkpoint_lib.finished_steps(os.path.join(workdir, "checkpoints"))
  assert "disk full" in err and f"(steps {kept or 'none'}) are intact" in err, err
  assert not kept or kept[-1] < STEPS
  c = config_for(corpus_dir)  # space freed: the same command resumes and finishes
  loop.train_and_evaluate(c, workdir)
  assert_same_history(workdir, reference)


def test_a_user_error_is_one_line_and_exit_2(corpus_dir, tmp_path):
  workdir = str(tmp_path / "w")
  code, out, err = finish(start(corpus_dir, workdir, "--config.train.steps=0"))
  assert code == 2, (out, err)
  assert err.strip().startswith("error: train.steps") and len(err.strip().splitlines()) == 1, err
  assert not os.path.exists(workdir)
