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

FINAL = "final.json"
LOG = "log.txt"


@dataclasses.dataclass(frozen=True)
class Job:
  name: str
  argv: list[str]
  run_dir: str
  then: Optional["Job"] = None  # runs after this one has finished (its name is unused)

  def stages(self) -> list["Job"]:
    return [self] + (self.then.stages() if self.then else [])


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


def _run_one(job: Job, cwd: str) -> Outcome:
  """Each unfinished stage in order; the first failing one ends the job."""
  start, rc = time.perf_counter(), 0
  for stage in job.stages():
    if is_finished(stage.run_dir):
      continue
    os.makedirs(stage.run_dir, exist_ok=True)
    with open(os.path.join(stage.run_dir, LOG), "a") as log:
      log.write(f"$ {' '.join(stage.argv)}\n")
      log.flush()
      rc = subprocess.run(stage.argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL).returncode
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
  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    futures = [pool.submit(_run_one, job, cwd) for job in pending]
    for future in concurrent.futures.as_completed(futures):
      outcome = future.result()
      outcomes[outcome.name] = outcome
      on_outcome(outcome)
  return [outcomes[job.name] for job in jobs]
