"""Test setup: 8 simulated CPU devices, set before jax is imported anywhere."""
import os
import tempfile

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Per-machine measurements (train/flops.py's peak) go to a fresh directory, never ~/.cache.
os.environ["ATTNLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="attnlab-test-cache-")

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
