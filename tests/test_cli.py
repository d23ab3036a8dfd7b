"""The entry points' XLA and malloc defaults (mimalloc, else glibc's mallopt): added once,
never over the user's own setting."""
import ctypes.util
import os
import subprocess
import sys

import pytest

from train import cli

_REPO = os.path.dirname(os.path.dirname(cli.__file__))
_GLIBC = pytest.mark.skipif(ctypes.util.find_library("c") is None or sys.platform != "linux",
                            reason="glibc's mallopt is Linux-only")
_MIMALLOC = pytest.mark.skipif(cli.mimalloc_library() is None,
                               reason="cmeel-mimalloc installs on Linux x86_64 only")


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
  """<ATTNLAB_CACHE_DIR>/xla/<host_tag> by default; a user's JAX_COMPILATION_CACHE_DIR
  (empty: off) is kept. In a fresh process JAX then writes the compiled program there."""
  env = {"ATTNLAB_CACHE_DIR": str(tmp_path)}
  assert cli.set_compilation_cache_default(env) == str(tmp_path / "xla" / cli.host_tag())
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
                 cwd=_REPO)
  assert any(n.endswith("-cache") for n in os.listdir(tmp_path / "xla" / cli.host_tag()))
  # JAX imported first (as train.packed does): its config is updated, the cache still used
  late = tmp_path / "late"
  code = ("import jax; from train import cli; cli.set_compilation_cache_default(); "
          "jax.jit(lambda x: x * 3 - 1)(1.0).block_until_ready()")
  env.update(ATTNLAB_CACHE_DIR=str(late))
  subprocess.run([sys.executable, "-c", code], env=env, check=True,
                 cwd=_REPO)
  assert any(n.endswith("-cache") for n in os.listdir(late / "xla" / cli.host_tag()))


@_GLIBC
def test_malloc_defaults_apply_unless_the_user_tunes_malloc():
  """Applied by mallopt on glibc (in a fresh process: they last for its life); a user's
  own malloc tuning or ATTNLAB_SYSTEM_MALLOC=1 leaves malloc alone."""
  assert not cli.set_malloc_defaults({"MALLOC_ARENA_MAX": "2"})
  assert not cli.set_malloc_defaults({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"})
  assert not cli.set_malloc_defaults({"ATTNLAB_SYSTEM_MALLOC": "1"})
  code = "from train import cli; print(cli.set_malloc_defaults({}))"
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, cwd=_REPO)
  assert out.stdout.strip() == "True"


def test_restart_with_mimalloc_leaves_a_users_choice_and_restarts_once():
  execs = []
  def record(path, argv):
    execs.append([path] + argv[1:])
  if cli.mimalloc_library() is None:
    assert not cli.restart_with_mimalloc({}, record) and not execs
    return
  for chosen in ({"ATTNLAB_SYSTEM_MALLOC": "1"}, {"LD_PRELOAD": "/opt/tcmalloc.so"},
                 {"MALLOC_ARENA_MAX": "2"}, {"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"}):
    assert not cli.restart_with_mimalloc(chosen, record)
  assert not execs
  env = {"MIMALLOC_PURGE_DELAY": "100"}
  assert cli.restart_with_mimalloc(env, record)
  assert execs == [[sys.executable] + sys.orig_argv[1:]]  # the same command line
  assert env["LD_PRELOAD"] == cli.mimalloc_library()
  assert env["MIMALLOC_PURGE_DELAY"] == "100"  # the user's own option wins
  assert not cli.restart_with_mimalloc(env, record)  # the restarted process
  assert len(execs) == 1 and "LD_PRELOAD" not in env  # its children start as the user's
  def fail(path, argv):
    raise OSError("no such file")
  env = {}
  assert not cli.restart_with_mimalloc(env, fail)  # goes on with glibc: nothing preloaded
  assert env == {"MIMALLOC_PURGE_DELAY": "-1"}


# A thread frees and allocates a buffer again (as XLA's worker threads do with a step's
# buffers), first filling its arena's first heap; prints whether mimalloc is loaded, whether
# LD_PRELOAD is left for children, and each allocation's page faults. argv: the malloc
# (system | defaults: glibc's mallopt | entry: as cli.run starts entry points), the MiB.
_REUSE = """
import ctypes, os, resource, sys, threading
import numpy as np
from train import cli
ctypes.CDLL("libc.so.6").prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: 4 KiB pages
def measure(argv):
  mib = int(sys.argv[2])
  faults = []
  def work():
    keep = np.ones(40 << 20, np.uint8)
    for _ in range(4):
      before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
      np.ones(mib << 20, np.uint8)
      faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
  thread = threading.Thread(target=work)
  thread.start()
  thread.join()
  print(cli.mimalloc_loaded(), "LD_PRELOAD" in os.environ, *faults)
if sys.argv[1] == "entry":
  cli.run(measure)
else:
  if sys.argv[1] == "defaults":
    assert cli.set_malloc_defaults({})
  measure(sys.argv)
"""


def _default_malloc_env() -> dict:
  """os.environ without a choice of allocator (ATTNLAB_SYSTEM_MALLOC, MALLOC_*, LD_PRELOAD)."""
  return {k: v for k, v in os.environ.items()
          if k != "ATTNLAB_SYSTEM_MALLOC" and not k.startswith(("MALLOC_", "LD_PRELOAD"))}


def _reuse(malloc: str, mib: int) -> tuple[bool, bool, list[int]]:
  out = subprocess.run([sys.executable, "-c", _REUSE, malloc, str(mib)], capture_output=True,
                       text=True, check=True, cwd=_REPO, env=_default_malloc_env()).stdout.split()
  return out[0] == "True", out[1] == "True", [int(n) for n in out[2:]]


@_GLIBC
def test_malloc_defaults_keep_a_threads_freed_heap():
  """Without the defaults glibc gives a 40 MiB buffer's heap back and faults it in again
  each time; with them only the first allocation faults."""
  system, tuned = _reuse("system", 40)[2], _reuse("defaults", 40)[2]
  assert min(system[1:]) > 5000, system  # 40 MiB of fresh pages every time
  assert max(tuned[1:]) < 100, tuned  # the same pages again


@_GLIBC
@_MIMALLOC
def test_entry_points_keep_a_threads_freed_buffer_over_64_mib():
  """glibc maps a thread's 160 MiB afresh every time, even with the defaults (a thread heap
  holds 64 MiB); entry points restart on mimalloc, which keeps it, and leave LD_PRELOAD out
  of their children's environment."""
  tuned = _reuse("defaults", 160)[2]
  assert min(tuned[1:]) > 20000, tuned
  loaded, preload_left, entry = _reuse("entry", 160)
  assert loaded and not preload_left
  assert max(entry[1:]) < 100, entry


# Prints "start" each time the interpreter runs it (a restart runs it twice), then its
# allocator and whether it has LD_PRELOAD left; "parent" starts itself as a run, as
# experiments/launch.py starts a sweep's runs.
_LAUNCH = """
import os, subprocess, sys
from experiments import launch
from train import cli
print("start", flush=True)
def main(argv):
  print(cli.allocator(), "LD_PRELOAD" in os.environ, flush=True)
  if argv[1:] == ["parent"]:
    subprocess.run([sys.executable, "-c", sys.orig_argv[2], "run"], env=launch.child_env(1),
                   check=True)
cli.run(main)
"""


@_MIMALLOC
def test_entry_points_restart_once_on_mimalloc_and_start_their_runs_on_it():
  assert cli.mimalloc_child_env({}) == {}  # pytest itself runs on glibc's malloc
  out = subprocess.run([sys.executable, "-c", _LAUNCH, "parent"], capture_output=True, text=True,
                       check=True, cwd=_REPO, env=_default_malloc_env()).stdout.splitlines()
  assert out == ["start", "start", "mimalloc False", "start", "mimalloc False"]
  assert cli.allocator() == "system"


@_MIMALLOC
@pytest.mark.parametrize("how", ["stdin", "traced"])
def test_a_program_a_restart_would_lose_runs_on_glibc(how):
  """A script read from stdin is gone once read, and a debugger or coverage tool (a trace
  function) would lose the process it attached to: no restart, main runs once, on glibc."""
  if how == "stdin":
    command, script = [sys.executable, "-"], _LAUNCH
  else:
    command, script = [sys.executable, "-c", _LAUNCH.replace(
        "cli.run(main)", "sys.settrace(lambda *args: None)\ncli.run(main)")], None
  out = subprocess.run(command, input=script, capture_output=True, text=True, check=True,
                       cwd=_REPO, env=_default_malloc_env()).stdout.splitlines()
  assert out == ["start", "system False"]


def test_each_processor_has_its_own_compilation_cache(tmp_path):
  """XLA:CPU compiles for the host's instruction set and loads another's code with only a
  logged error: a cache shared by two machines (one home directory) keeps them apart."""
  block = "processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu sse2 avx2 {}\n"
  tags = []
  for flags in ("avx512f avx512_bf16", "avx512_bf16 avx512f", "amx_bf16 avx512f avx512_bf16",
                ""):
    (tmp_path / "cpuinfo").write_text(block.format(flags))
    tags.append(cli.host_tag(str(tmp_path / "cpuinfo")))
  assert tags[0] == tags[1] and len(set(tags)) == 3  # the same flags in any order: one tag
  assert cli.host_tag(str(tmp_path / "absent"))  # off Linux: the architecture


def test_machine_names_the_cpu_and_its_isa(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  block = ("processor\t: {i}\nmodel name\t: Some Xeon\n"
           "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 {extra}\n")
  cpuinfo.write_text(block.format(i=0, extra="") + "\n" + block.format(i=1, extra="amx_bf16"))
  got = cli.machine(str(cpuinfo))
  assert got["cpu"] == "Some Xeon"
  assert got["isa"] == ["avx2", "avx512f", "avx512_bf16"]  # the first processor's block
  assert cli.machine(str(tmp_path / "absent")) == {"cores": os.cpu_count()}
