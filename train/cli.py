"""How every entry point starts and ends: XLA's defaults, then a user's mistake is one line
and exit 2, a signal 128+N.

attnlab raises ValueError for what the user can fix (config, data, workdir); its message
names the problem and the fix, so the traceback is noise. ATTNLAB_TRACEBACK=1 shows it.
"""
from __future__ import annotations

import functools
import hashlib
import logging as std_logging
import os
import platform
import sys
from typing import Callable, Optional

from absl import app
from absl import logging

from train import graceful_stop

USER_ERROR_EXIT = 2

# XLA flags every entry point (and the test suite) sets unless XLA_FLAGS names them already.
XLA_DEFAULTS = {
    # XLA:CPU's memory-optimised scheduler instead of its default, concurrency-optimised
    # one, which keeps many more activations alive at once: the large shakespeare_char
    # step's temp buffers fall from 8.0 to 5.2 GiB, same losses (experiments/bench/
    # RESULTS.md). train.xla_cpu_scheduler chooses per run for the train and eval steps.
    # Other backends ignore it.
    "xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
    # LLVM at -O2 instead of XLA's -O3 for the fusions XLA:CPU generates: programs compile
    # ~30 % faster (a tiny GPT run: 3.8-4.9 vs 5.8-7.2 s of compile) and the small shakespeare_char
    # step is as fast (median 42.9 vs 46.7 ms, 3 alternating rounds). The numbers may move
    # in the last bits, as between CPUs (a tiny GPT's losses were bit-identical, a tiny
    # seq2seq's differed from step 30). experiments/bench/RESULTS.md has the measurement.
    "xla_backend_optimization_level": "2",
}


def set_xla_defaults(environ: Optional[dict] = None) -> str:
  """Append XLA_DEFAULTS to environ's XLA_FLAGS (default os.environ), each one unless the
  user's flags set it; returns the new value. Call before JAX creates a backend."""
  environ = os.environ if environ is None else environ
  flags = environ.get("XLA_FLAGS", "")
  for name, value in XLA_DEFAULTS.items():
    if f"--{name}=" not in flags:
      flags = f"{flags} --{name}={value}".strip()
  environ["XLA_FLAGS"] = flags
  return flags


def cache_dir(environ: Optional[dict] = None) -> str:
  """Where attnlab keeps per-machine state (the measured peak FLOPs, compiled programs):
  $ATTNLAB_CACHE_DIR, default ~/.cache/attnlab."""
  environ = os.environ if environ is None else environ
  return environ.get("ATTNLAB_CACHE_DIR") or os.path.join(
      os.path.expanduser("~"), ".cache", "attnlab")


# JAX's persistent compilation cache, on by default as MaxText's jax_cache_dir: a rerun,
# a resume or another seed of a config loads its compiled steps (init, train, eval,
# sampling: ~10 s of a small CPU run's start-up) instead of compiling them again. JAX
# keys an entry on the program, the XLA flags and the jaxlib version, so a hit is the
# executable a compile would give. Programs that compile in under a second are not kept.
# The key does not name the host CPU, whose instruction set XLA:CPU compiles for, and
# XLA only logs an error when it loads code for features the host lacks (then SIGILL):
# so each processor (host_tag) has its own directory, for caches on a shared home.
COMPILATION_CACHE_MAX_BYTES = 1 << 30  # least recently used entries go beyond it


def set_compilation_cache_default(environ: Optional[dict] = None) -> str:
  """Point JAX's compilation cache at <cache_dir>/xla/<host_tag()> unless environ (default
  os.environ) sets JAX_COMPILATION_CACHE_DIR (empty: no cache); returns the directory (''
  if off, as when <cache_dir> cannot be written). For os.environ it also updates JAX's
  config when JAX is already imported (JAX reads these variables at import, and entry
  points such as train.packed import it first); call it before the first compile."""
  environ = os.environ if environ is None else environ
  if "JAX_COMPILATION_CACHE_DIR" not in environ:
    path = os.path.join(cache_dir(environ), "xla", host_tag())
    try:
      os.makedirs(path, exist_ok=True)
      usable = os.access(path, os.W_OK)
    except OSError:
      usable = False
    environ["JAX_COMPILATION_CACHE_DIR"] = path if usable else ""  # unwritable: no cache
  environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(COMPILATION_CACHE_MAX_BYTES))
  if environ is os.environ and "jax" in sys.modules:  # JAX read its config at import
    import jax
    jax.config.update("jax_compilation_cache_dir", environ["JAX_COMPILATION_CACHE_DIR"] or None)
    jax.config.update("jax_compilation_cache_max_size",
                      int(environ["JAX_COMPILATION_CACHE_MAX_SIZE"]))
  return environ["JAX_COMPILATION_CACHE_DIR"]


# mimalloc (github.com/microsoft/mimalloc, from the cmeel-mimalloc wheel) replaces glibc's
# malloc in every entry point: run() restarts the process once with it preloaded. glibc
# serves a worker thread's buffer over 64 MiB (its thread heaps' size) with a fresh mmap and
# unmaps it on free, whatever mallopt says, so XLA:CPU's step buffers above that size were
# faulted in anew every step (gpt_tiny's 160 MiB: 26M faults and 43 s of system time in
# `make demo`); one glibc arena keeps them but makes the small models wait on its lock
# (+4-12 %). mimalloc keeps per-thread heaps of any size and, with a purge delay of -1,
# keeps freed memory as the glibc defaults below do: gpt_tiny's step 146 -> 105 ms, the
# large step 7.8 -> 7.1 s, the small step as fast, same losses; peak RSS +3-14 %, and
# fresh memory in huge pages is slow to touch first (experiments/bench/RESULTS.md).
MIMALLOC_OPTIONS = {"MIMALLOC_PURGE_DELAY": "-1"}  # a user's own MIMALLOC_* values win
_RESTARTED = "ATTNLAB_MIMALLOC_RESTART"  # set across the one restart, then removed


@functools.cache
def mimalloc_library() -> Optional[str]:
  """Path of the installed libmimalloc.so (the cmeel-mimalloc wheel), or None."""
  from importlib import metadata

  try:
    files = metadata.distribution("cmeel-mimalloc").files or []
  except metadata.PackageNotFoundError:
    return None
  paths = [str(f.locate()) for f in files if f.name == "libmimalloc.so"]
  return next((p for p in paths if os.path.exists(p)), None)


def mimalloc_loaded() -> bool:
  """Whether this process allocates with mimalloc (preloaded, so its symbols are global)."""
  import ctypes

  try:
    return hasattr(ctypes.CDLL(None), "mi_version")
  except OSError:
    return False


def allocator() -> str:
  """The malloc this process runs on, for benchmark reports: 'mimalloc' or 'system'."""
  return "mimalloc" if mimalloc_loaded() else "system"


# The CPU features that change XLA:CPU's and PyTorch's speed on machines of one kind.
_ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def _first_cpu(cpuinfo_path: str) -> Optional[dict]:
  """The fields of cpuinfo_path's first processor block; None where it cannot be read."""
  try:
    with open(cpuinfo_path) as f:
      text = f.read()
  except OSError:
    return None
  first_cpu = text.split("\n\n", 1)[0].splitlines()
  return {k.strip(): v.strip() for k, v in
          (line.split(":", 1) for line in first_cpu if ":" in line)}


def machine(cpuinfo_path: str = "/proc/cpuinfo") -> dict:
  """The CPU this process runs on: model name, logical cores, which of _ISA_FLAGS it has.
  Speed differs between machines of one kind (experiments/bench/RESULTS.md), so benchmarks
  record it and the cached peak FLOPs are keyed by it. Off Linux, only the core count."""
  out = {"cores": os.cpu_count()}
  fields = _first_cpu(cpuinfo_path)
  if fields is not None:
    have = set(fields.get("flags", "").split())
    out.update(cpu=fields.get("model name", "?"), isa=[f for f in _ISA_FLAGS if f in have])
  return out


def host_tag(cpuinfo_path: str = "/proc/cpuinfo") -> str:
  """A name for this host's processor, equal only on the same model with the same
  instruction-set flags (Linux; off Linux the architecture alone)."""
  fields = _first_cpu(cpuinfo_path)
  if fields is None:
    return platform.machine() or "unknown"
  text = f"{fields.get('model name', '?')} {' '.join(sorted(fields.get('flags', '').split()))}"
  return f"{platform.machine()}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _user_tunes_malloc(environ: dict) -> bool:
  return (environ.get("ATTNLAB_SYSTEM_MALLOC") == "1"
          or "malloc" in environ.get("GLIBC_TUNABLES", "")
          or any(k.startswith("MALLOC_") for k in environ))


def restart_with_mimalloc(environ: Optional[dict] = None,
                          execv: Callable[[str, list[str]], None] = os.execv) -> bool:
  """Replace this process (os.execv: same pid, same command line) by one with mimalloc
  preloaded, unless it has it already, the user chose the allocator (LD_PRELOAD,
  MALLOC_* or glibc.malloc tunables, ATTNLAB_SYSTEM_MALLOC=1), no libmimalloc is installed,
  the program cannot be run again (`_rerunnable`) or this is the restarted process. The
  restarted process drops LD_PRELOAD from environ (default os.environ), so its subprocesses
  start as the user started it. Returns whether it exec'd (only a stand-in execv returns).
  Call first, before anything is printed."""
  environ = os.environ if environ is None else environ
  if environ.pop(_RESTARTED, None) is not None:  # the restart: clean the environment
    environ.pop("LD_PRELOAD", None)
    return False
  if (environ.get("LD_PRELOAD") or _user_tunes_malloc(environ) or mimalloc_loaded()
      or not _rerunnable()):
    return False
  library = mimalloc_library()
  if library is None:
    return False
  environ.update(_preload(library))
  for name, value in MIMALLOC_OPTIONS.items():
    environ.setdefault(name, value)
  sys.stdout.flush()
  sys.stderr.flush()
  try:
    execv(sys.executable, [sys.executable] + sys.orig_argv[1:])
  except OSError:  # no interpreter to exec (an embedded one): go on with glibc
    for name in _preload(library):
      environ.pop(name)
    return False
  return True


def _rerunnable() -> bool:
  """Whether exec'ing the command line runs this program again, as it is: not a script read
  from stdin (consumed) or an interactive session, and not under a debugger, tracer or
  coverage tool (sys.gettrace), which would lose the process it attached to."""
  return sys.argv[0] not in ("", "-") and not sys.flags.interactive and sys.gettrace() is None


def mimalloc_child_env(environ: dict) -> dict:
  """environ plus what starts an attnlab entry point directly on mimalloc, without its
  restart (~0.1 s, 2 s where the module imports JAX first), when this process runs on the
  one run() preloads; else environ unchanged."""
  library = mimalloc_library()
  if library is None or not mimalloc_loaded() or environ.get("LD_PRELOAD"):
    return environ
  return {**environ, **_preload(library)}


def _preload(library: str) -> dict:
  """The variables of a process started on mimalloc as if restarted onto it."""
  return {"LD_PRELOAD": library, _RESTARTED: "1"}


# glibc malloc settings (mallopt parameter numbers from malloc.h), where mimalloc is not
# loaded. By default glibc serves each allocation above a (dynamic, at most 32 MiB)
# threshold with its own mmap and gives it back with munmap, and trims freed heap tops:
# XLA:CPU allocates a step's temp buffers anew every step, so every step faulted fresh
# pages in (the small shakespeare_char step: ~10k minor faults, 15-17 s of system time in
# 600 steps). Heap-only allocation with no
# trimming reuses the pages: faults fall 3-50x, the small step runs 1.2-1.6x faster, the
# large one as fast; freed memory stays with the process (small run's peak RSS +20-50 %,
# the large run's unchanged). Losses are unchanged (experiments/bench/RESULTS.md).
# A 64 MiB top pad keeps the heaps of threads' arenas too: glibc deletes a thread arena's
# extra heap once it is wholly free, whatever the trim threshold, and XLA's worker threads
# then faulted their step buffers in anew every step in some runs (up to 6k faults a step,
# the small step 10-20 % slower). The pad is address space, not memory.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4
MALLOC_DEFAULTS = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: (1 << 31) - 1,
                   _M_TOP_PAD: 64 << 20}  # values are C ints


def set_malloc_defaults(environ: Optional[dict] = None) -> bool:
  """Apply MALLOC_DEFAULTS with mallopt (glibc only) unless mimalloc is loaded or environ
  (default os.environ) tunes malloc itself (a MALLOC_* variable, glibc.malloc in
  GLIBC_TUNABLES) or sets ATTNLAB_SYSTEM_MALLOC=1; returns whether they were applied. Call
  before JAX allocates."""
  import ctypes
  import ctypes.util

  environ = os.environ if environ is None else environ
  if _user_tunes_malloc(environ) or mimalloc_loaded():
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
    return False
  return all(mallopt(param, value) == 1 for param, value in MALLOC_DEFAULTS.items())


def run(main: Callable[[list[str]], Optional[int]]) -> None:
  """absl's app.run(main) on mimalloc, with attnlab's XLA, malloc and compilation-cache
  defaults, error and signal conventions."""
  restart_with_mimalloc()
  set_xla_defaults()
  set_malloc_defaults()
  set_compilation_cache_default()
  logging.get_absl_handler().addFilter(_orbax_thread_errors)
  app.run(_guarded(main))


def _orbax_thread_errors(record: std_logging.LogRecord) -> bool:
  """Drop the tracebacks Orbax's save threads (and their asyncio tasks) log: the main
  thread re-raises the error (a full disk becomes one line). --verbosity=1 keeps them."""
  from_orbax = "/orbax/" in record.pathname or record.name == "asyncio"
  return not (from_orbax and logging.get_verbosity() < logging.INFO)


def _guarded(main: Callable[[list[str]], Optional[int]]) -> Callable[[list[str]], Optional[int]]:
  @functools.wraps(main)
  def guarded(argv: list[str]) -> Optional[int]:
    try:
      return main(argv)
    except graceful_stop.Stopped as e:
      print(f"attnlab: {e}", file=sys.stderr, flush=True)
      sys.exit(e.exit_code)
    except ValueError as e:
      if os.environ.get("ATTNLAB_TRACEBACK"):
        raise
      print(f"error: {e}", file=sys.stderr, flush=True)
      sys.exit(USER_ERROR_EXIT)
  return guarded
