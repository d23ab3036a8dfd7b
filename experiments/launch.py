"""Run commands as separate processes, a few at a time, skipping the finished ones.

Each job is its own process, so a crash (or a NaN stop) in one run does not take the others
down; a run counts as finished once its workdir has final.json, so a killed sweep resumes.
A job may chain a second one (`then`, e.g. fine-tuning from the first's workdir): the job is
finished when its last stage is, and a resumed job runs only the stages still missing.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import subprocess
import time
from typing import Callable, Optional, Sequence

from train import cli

FINAL = "final.json"
LOG = "log.txt"


def child_env(parallel: int, environ: Optional[dict] = None) -> dict:
  """The environment of each run's process (default: os.environ). With parallel > 1, JAX
  allocates GPU memory as it needs it instead of taking 75 % at start-up, which would leave
  the second process on the same GPU none; a value the user set is kept. Runs start on
  this process's mimalloc directly (train/cli.py)."""
  env = dict(os.environ if environ is None else environ)
  if parallel > 1:
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  return cli.mimalloc_child_env(env)


@dataclasses.dataclass(frozen=True)
class Job:
  name: str
  argv: list[str]
  run_dir: str
  then: Optional["Job"] = None  # runs after this one has finished (its name is unused)

  def stages(self) -> list["Job"]:
    return [self] + (self.then.stages() if self.then else [])


@dataclasses.dataclass(frozen=True)
class Group:
  """One process training several runs at once (train/packed.py): `runs` are (name,
  run_dir) pairs; its output goes to `log_path`, then into each run's log.txt."""
  name: str
  argv: list[str]
  runs: list[tuple[str, str]]
  log_path: str


@dataclasses.dataclass(frozen=True)
class Outcome:
  name: str
  status: str  # "done" | "skipped" (finished before) | "failed"
  returncode: Optional[int] = None
  seconds: float = 0.0
  log_tail: str = ""
  log_path: str = ""  # the failed stage's log.txt


def chain(name: str, stages: Sequence[tuple[list[str], str]]) -> Job:
  """One job running each (argv, run_dir) stage after the one before it finished."""
  job = None
  for argv, run_dir in reversed(list(stages)):
    job = Job(name, argv, run_dir, then=job)
  if job is None:
    raise ValueError(f"job {name!r} has no stages")
  return job


def is_finished(run_dir: str) -> bool:
  return os.path.exists(os.path.join(run_dir, FINAL))


def job_finished(job: Job) -> bool:
  return is_finished(job.stages()[-1].run_dir)


def log_tail(run_dir: str, lines: int = 20) -> str:
  """The last lines of a run's log (progress-bar carriage returns folded away)."""
  path = os.path.join(run_dir, LOG)
  if not os.path.exists(path):
    return ""
  with open(path, errors="replace") as f:
    text = f.read().replace("\r", "\n")
  kept = [l for l in text.splitlines() if l.strip()]
  return "\n".join(kept[-lines:])


def _run_one(job: Job, cwd: str, env: dict) -> Outcome:
  """Each unfinished stage in order; the first failing one ends the job."""
  start, rc = time.perf_counter(), 0
  for stage in job.stages():
    if is_finished(stage.run_dir):
      continue
    os.makedirs(stage.run_dir, exist_ok=True)
    with open(os.path.join(stage.run_dir, LOG), "a") as log:
      log.write(f"$ {' '.join(stage.argv)}\n")
      log.flush()
      rc = subprocess.run(stage.argv, cwd=cwd, env=env, stdout=log,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if rc != 0 or not is_finished(stage.run_dir):
      return Outcome(job.name, "failed", rc, time.perf_counter() - start,
                     log_tail(stage.run_dir), os.path.join(stage.run_dir, LOG))
  return Outcome(job.name, "done", rc, time.perf_counter() - start)


def run_jobs(jobs: Sequence[Job], parallel: int = 1, cwd: Optional[str] = None,
             on_outcome: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
  """Run the unfinished jobs, up to `parallel` at once; outcomes in job order."""
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, got {parallel}")
  outcomes: dict[str, Outcome] = {}
  pending = []
  for job in jobs:
    if job_finished(job):
      outcomes[job.name] = Outcome(job.name, "skipped")
      on_outcome(outcomes[job.name])
    else:
      pending.append(job)
  env = child_env(parallel)
  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    futures = [pool.submit(_run_one, job, cwd, env) for job in pending]
    for future in concurrent.futures.as_completed(futures):
      outcome = future.result()
      outcomes[outcome.name] = outcome
      on_outcome(outcome)
  return [outcomes[job.name] for job in jobs]


def _run_group(group: Group, cwd: str, env: dict) -> list[Outcome]:
  """The group's process; then each run's outcome (done once it has final.json), its
  log.txt holding the group's log (a diverged or failed run: that log's tail)."""
  start = time.perf_counter()
  os.makedirs(os.path.dirname(group.log_path), exist_ok=True)
  for _, run_dir in group.runs:
    os.makedirs(run_dir, exist_ok=True)
  with open(group.log_path, "a") as log:
    log.write(f"$ {' '.join(group.argv)}\n")
    log.flush()
    rc = subprocess.run(group.argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL).returncode
  seconds = time.perf_counter() - start
  with open(group.log_path, errors="replace") as f:
    text = f.read()
  outcomes = []
  for name, run_dir in group.runs:
    with open(os.path.join(run_dir, LOG), "a") as log:
      log.write(f"[packed group {group.name} of {len(group.runs)} runs: its log "
                f"{group.log_path}, copied here]\n{text}")
    if is_finished(run_dir):
      outcomes.append(Outcome(name, "done", rc, seconds))
    else:
      outcomes.append(Outcome(name, "failed", rc, seconds, log_tail(run_dir),
                              os.path.join(run_dir, LOG)))
  return outcomes


def run_groups(groups: Sequence[Group], parallel: int = 1, cwd: Optional[str] = None,
               on_outcome: Callable[[Outcome], None] = lambda o: None) -> list[Outcome]:
  """Run each group's process (up to `parallel` at once); one outcome per run, in order.

  The caller leaves finished runs out of the groups (they are its "skipped" ones)."""
  if parallel < 1:
    raise ValueError(f"parallel must be >= 1, got {parallel}")
  outcomes: dict[str, Outcome] = {}
  env = child_env(parallel)
  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    futures = [pool.submit(_run_group, group, cwd, env) for group in groups]
    for future in concurrent.futures.as_completed(futures):
      for outcome in future.result():
        outcomes[outcome.name] = outcome
        on_outcome(outcome)
  return [outcomes[name] for group in groups for name, _ in group.runs]
