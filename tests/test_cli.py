"""The entry points' XLA and malloc defaults: added once, never over the user's own
setting."""
import ctypes.util
import os
import subprocess
import sys

import pytest

from train import cli


def test_xla_defaults_join_the_users_flags_and_keep_the_users_value():
  env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
  flags = cli.set_xla_defaults(env)
  assert flags.startswith("--xla_force_host_platform_device_count=8 ")
  assert "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED" in flags
  assert cli.set_xla_defaults(env) == flags  # idempotent
  mine = {"XLA_FLAGS": "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_CONCURRENCY_OPTIMIZED"}
  flags = cli.set_xla_defaults(mine)
  assert "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_CONCURRENCY_OPTIMIZED" in flags
  assert "--xla_cpu_scheduler_type=CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED" not in flags
  others = {k: v for k, v in cli.XLA_DEFAULTS.items()
            if k != "xla_cpu_scheduler_type"}
  assert all(f"--{k}={v}" in flags for k, v in others.items())  # the other defaults join
  assert cli.set_xla_defaults({}) == " ".join(f"--{k}={v}" for k, v in cli.XLA_DEFAULTS.items())


def test_this_suite_compiles_with_the_entry_points_defaults():
  for name, value in cli.XLA_DEFAULTS.items():
    assert f"--{name}={value}" in os.environ["XLA_FLAGS"]


def test_compilation_cache_defaults_to_the_attnlab_cache_unless_the_user_sets_one(tmp_path):
  """<ATTNLAB_CACHE_DIR>/xla by default; a user's JAX_COMPILATION_CACHE_DIR (empty: off) is
  kept. In a fresh process JAX then writes the compiled program there."""
  env = {"ATTNLAB_CACHE_DIR": str(tmp_path)}
  assert cli.set_compilation_cache_default(env) == str(tmp_path / "xla")
  assert env["JAX_COMPILATION_CACHE_MAX_SIZE"] == str(cli.COMPILATION_CACHE_MAX_BYTES)
  assert cli.set_compilation_cache_default({"JAX_COMPILATION_CACHE_DIR": ""}) == ""
  assert cli.set_compilation_cache_default({"JAX_COMPILATION_CACHE_DIR": "/c"}) == "/c"
  (tmp_path / "file").write_text("")  # a cache dir that cannot be made: no cache, no error
  assert cli.set_compilation_cache_default({"ATTNLAB_CACHE_DIR": str(tmp_path / "file")}) == ""
  code = ("from train import cli; cli.set_compilation_cache_default(); import jax; "
          "jax.jit(lambda x: x * 2 + 1)(1.0).block_until_ready()")
  env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
  env.update(ATTNLAB_CACHE_DIR=str(tmp_path), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")
  subprocess.run([sys.executable, "-c", code], env=env, check=True,
                 cwd=os.path.dirname(os.path.dirname(cli.__file__)))
  assert any(n.endswith("-cache") for n in os.listdir(tmp_path / "xla"))
  # JAX imported first (as train.packed does): its config is updated, the cache still used
  late = tmp_path / "late"
  code = ("import jax; from train import cli; cli.set_compilation_cache_default(); "
          "jax.jit(lambda x: x * 3 - 1)(1.0).block_until_ready()")
  env.update(ATTNLAB_CACHE_DIR=str(late))
  subprocess.run([sys.executable, "-c", code], env=env, check=True,
                 cwd=os.path.dirname(os.path.dirname(cli.__file__)))
  assert any(n.endswith("-cache") for n in os.listdir(late / "xla"))


@pytest.mark.skipif(ctypes.util.find_library("c") is None or sys.platform != "linux",
                    reason="glibc's mallopt is Linux-only")
def test_malloc_defaults_apply_unless_the_user_tunes_malloc():
  """Applied by mallopt on glibc (in a fresh process: they last for its life); a user's
  own malloc tuning or ATTNLAB_SYSTEM_MALLOC=1 leaves malloc alone."""
  assert not cli.set_malloc_defaults({"MALLOC_ARENA_MAX": "2"})
  assert not cli.set_malloc_defaults({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"})
  assert not cli.set_malloc_defaults({"ATTNLAB_SYSTEM_MALLOC": "1"})
  code = "from train import cli; print(cli.set_malloc_defaults({}))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, cwd=os.path.dirname(os.path.dirname(cli.__file__)))
  assert out.stdout.strip() == "True"


# A thread frees and allocates again a 40 MiB buffer that does not fit its arena's first
# heap (as XLA's worker threads do with a step's buffers); prints the page faults of each.
_REUSE = """
import ctypes, resource, sys, threading
import numpy as np
from train import cli
ctypes.CDLL("libc.so.6").prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages, 10240
if sys.argv[1] == "defaults":
  assert cli.set_malloc_defaults({})
faults = []
def work():
  keep = np.ones(40 << 20, np.uint8)  # fills the thread arena's first heap
  for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    np.ones(40 << 20, np.uint8)
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
thread = threading.Thread(target=work)
thread.start()
thread.join()
print(*faults)
"""


@pytest.mark.skipif(ctypes.util.find_library("c") is None or sys.platform != "linux",
                    reason="glibc's mallopt is Linux-only")
def test_malloc_defaults_keep_a_threads_freed_heap():
  """Without the defaults glibc gives the buffer's heap back and faults it in again each
  time; with them only the first allocation faults."""
  def faults(mode):
    out = subprocess.run([sys.executable, "-c", _REUSE, mode], capture_output=True,
                         text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(cli.__file__)))
    return [int(n) for n in out.stdout.split()]
  system, tuned = faults("system"), faults("defaults")
  assert min(system[1:]) > 5000, system  # 40 MiB of fresh pages every time
  assert max(tuned[1:]) < 100, tuned  # the same pages again
