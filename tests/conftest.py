"""Test setup: 8 simulated CPU devices and the entry points' XLA and malloc defaults, set
before jax is imported anywhere."""
import os
import shutil
import tempfile

from train import cli

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
cli.set_xla_defaults()  # what `python -m train.main` compiles, the tests compile
cli.set_malloc_defaults()  # and allocate as it does
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Directories of this test session, made by the process pytest starts in (xdist's workers
# inherit them through the environment) and removed when it ends:
# - per-machine measurements (train/flops.py's peak) go to a fresh directory, never ~/.cache;
# - one persistent XLA compilation cache, shared by the workers and the subprocesses tests
#   start: the many tiny runs compile the same steps again and again (-12 % wall on
#   test_packed + test_grpo). A cached executable is the compiled one, so the numbers do not
#   change; a half-written entry read by the other worker is recompiled.
_MADE_HERE = []
if os.environ.get("ATTNLAB_TEST_SESSION") is None:
  os.environ["ATTNLAB_TEST_SESSION"] = str(os.getpid())
  os.environ["ATTNLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="attnlab-test-cache-")
  _MADE_HERE.append(os.environ["ATTNLAB_CACHE_DIR"])
  if "JAX_COMPILATION_CACHE_DIR" not in os.environ:  # a user's own cache is kept
    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="attnlab-test-xla-")
    _MADE_HERE.append(os.environ["JAX_COMPILATION_CACHE_DIR"])
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

import pathlib

import pytest

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """../shared/data, or skip with a clear message when the checkout has none beside it."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}; tests that read it are skipped")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[str, str]:
    """(tests/tiny.py's corpus file, a TFDS data dir beside it), one per test module."""
    from tests import tiny
    d = tmp_path_factory.mktemp("corpus")
    return tiny.write_corpus(str(d)), str(d / "tfds")


def pytest_unconfigure(config):
  for path in _MADE_HERE:  # empty in xdist's workers
    shutil.rmtree(path, ignore_errors=True)
