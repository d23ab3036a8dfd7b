"""Where a run ran: its code, libraries and machine, in <workdir>/environment.json.

XLA's numbers change in the last bits with the processor (AVX2, AVX-512, AMX), the backend,
the XLA flags and the library versions, so two runs compare exactly only on one setup.
Every start of a run, fresh or resumed, appends one entry (the step it starts from, the
time, `describe()`); a resume on a setup that differs from the last start's in any of
COMPARED says so, since its later steps may then differ from an uninterrupted run's.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import platform
import socket
import subprocess
from importlib import metadata
from typing import Optional

from train import cli

FILE = "environment.json"
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "grain", "numpy")
COMPARED = ("code", "libraries", "backend", "devices", "processor", "xla_flags")
_SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repo root


def _git(*args: str) -> Optional[str]:
  try:
    done = subprocess.run(["git", "-C", _SOURCE, *args], capture_output=True, text=True,
                          timeout=10, check=True)
  except (OSError, subprocess.SubprocessError):
    return None
  return done.stdout.strip()


def code_version() -> dict:
  """attnlab's git commit and whether tracked files differ from it, in a checkout; else
  the installed package version."""
  commit = _git("rev-parse", "HEAD") if os.path.exists(os.path.join(_SOURCE, ".git")) else None
  if commit:
    return {"commit": commit, "dirty": bool(_git("status", "--porcelain",
                                                 "--untracked-files=no"))}
  try:
    return {"version": metadata.version("attnlab")}
  except metadata.PackageNotFoundError:
    return {"version": "unknown"}


def _library_versions() -> dict:
  versions = {}
  for name in LIBRARIES:
    try:
      versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def describe() -> dict:
  """This process's setup: code, libraries, Python, backend and devices, processor (model,
  cores, instruction set), allocator, XLA_FLAGS, process count and host name. Taken once
  per process (a packed group records it for each run); the caller gets its own copy."""
  return dict(_setup())


@functools.cache
def _setup() -> dict:
  import jax

  return {
      "code": code_version(),
      "libraries": _library_versions(),
      "python": platform.python_version(),
      "backend": jax.default_backend(),
      "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
      "processes": jax.process_count(),
      "processor": cli.machine(),
      "allocator": cli.allocator(),
      "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "host": socket.gethostname(),
  }


def record(workdir: str, step: int) -> dict:
  """Append this start (from `step`) to <workdir>/environment.json on process 0, atomically,
  and warn when it resumes on another setup than the run's last start; returns the entry
  (other processes: only step and time). An unreadable file is started afresh (it holds no
  results)."""
  import jax

  from train import workdir as workdir_lib

  entry = {"step": step, "time": datetime.datetime.now().astimezone().isoformat(
      timespec="seconds")}
  if jax.process_index() != 0:
    return entry
  entry.update(describe())
  starts = read(workdir)
  if starts and step > 0:
    changed = differing(starts[-1], entry)
    if changed:
      workdir_lib.warn(
          f"{workdir} resumes at step {step} on another setup than it ran on before "
          f"({', '.join(_change(k, starts[-1].get(k), entry[k]) for k in changed)}; "
          f"{FILE}): its numbers from here may differ in the last bits from an uninterrupted "
          "run's")
  workdir_lib.atomic_write(os.path.join(workdir, FILE), json.dumps(starts + [entry], indent=2))
  return entry


def read(workdir: str) -> list[dict]:
  """The starts <workdir>/environment.json records, oldest first; [] if it is missing or
  unreadable (runs from before it existed)."""
  try:
    with open(os.path.join(workdir, FILE)) as f:
      starts = json.load(f)
  except (OSError, ValueError):
    return []
  return [s for s in starts if isinstance(s, dict)] if isinstance(starts, list) else []


def setup_of(start: dict) -> dict:
  """The fields of a recorded start that change a run's numbers (COMPARED)."""
  return {k: start.get(k) for k in COMPARED}


def differing(a: dict, b: dict) -> list[str]:
  """The COMPARED fields in which two recorded starts (or setups) differ."""
  return [k for k in COMPARED if a.get(k) != b.get(k)]


def summary(setup: dict) -> str:
  """One line naming a setup: processor, devices, jax/jaxlib and attnlab's version."""
  proc = setup.get("processor") or {}
  libs = setup.get("libraries") or {}
  code = setup.get("code") or {}
  version = (code["commit"][:10] + (" (modified)" if code.get("dirty") else "")
             if code.get("commit") else code.get("version", "?"))
  return (f"{proc.get('cpu', '?')} ({', '.join(proc.get('isa', [])) or 'no listed ISA'}; "
          f"{proc.get('cores', '?')} cores), {setup.get('backend')} {setup.get('devices')}, "
          f"jax {libs.get('jax')} / jaxlib {libs.get('jaxlib')}, attnlab {version}")


def _change(key: str, old: object, new: object) -> str:
  if isinstance(old, dict) and isinstance(new, dict):
    parts = [f"{key}.{k} {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new))
             if old.get(k) != new.get(k)]
    return ", ".join(parts)
  return f"{key} {old!r} -> {new!r}"
