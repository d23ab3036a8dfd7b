"""How every entry point starts and ends: XLA's defaults, then a user's mistake is one line
and exit 2, a signal 128+N.

attnlab raises ValueError for what the user can fix (config, data, workdir); its message
names the problem and the fix, so the traceback is noise. ATTNLAB_TRACEBACK=1 shows it.
"""
from __future__ import annotations

import functools
import logging as std_logging
import os
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
COMPILATION_CACHE_MAX_BYTES = 1 << 30  # least recently used entries go beyond it


def set_compilation_cache_default(environ: Optional[dict] = None) -> str:
  """Point JAX's compilation cache at <cache_dir>/xla unless environ (default os.environ)
  sets JAX_COMPILATION_CACHE_DIR (empty: no cache); returns the directory ('' if off, as
  when <cache_dir> cannot be written). For os.environ it also updates JAX's config when
  JAX is already imported (JAX reads these variables at import, and entry points such as
  train.packed import it first); call it before the first compile."""
  environ = os.environ if environ is None else environ
  if "JAX_COMPILATION_CACHE_DIR" not in environ:
    path = os.path.join(cache_dir(environ), "xla")
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


# glibc malloc settings (mallopt parameter numbers from malloc.h). By default glibc serves
# each allocation above a (dynamic, at most 32 MiB) threshold with its own mmap and gives
# it back with munmap, and trims freed heap tops: XLA:CPU allocates a step's temp buffers
# anew every step, so every step faulted fresh pages in (the small shakespeare_char step:
# ~10k minor faults, 15-17 s of system time in 600 steps). Heap-only allocation with no
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
  """Apply MALLOC_DEFAULTS with mallopt (glibc only) unless environ (default os.environ)
  tunes malloc itself (a MALLOC_* variable, glibc.malloc in GLIBC_TUNABLES) or sets
  ATTNLAB_SYSTEM_MALLOC=1; returns whether they were applied. Call before JAX allocates."""
  import ctypes
  import ctypes.util

  environ = os.environ if environ is None else environ
  if environ.get("ATTNLAB_SYSTEM_MALLOC") == "1" or "malloc" in environ.get(
      "GLIBC_TUNABLES", "") or any(k.startswith("MALLOC_") for k in environ):
    return False
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
    return False
  return all(mallopt(param, value) == 1 for param, value in MALLOC_DEFAULTS.items())


def run(main: Callable[[list[str]], Optional[int]]) -> None:
  """absl's app.run(main) with attnlab's XLA, malloc and compilation-cache defaults, error
  and signal conventions."""
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
