"""MFU's peak: measured once per machine and dtype (cached), never on every run."""
import json

import jax.numpy as jnp

from train import cli
from train import flops


def test_peak_is_measured_once_per_machine_and_dtype(tmp_path, monkeypatch):
  monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "cache"))
  measured = []
  def fake_measure(dtype):
    measured.append(jnp.dtype(dtype).name)
    return {"float32": 1e9, "bfloat16": 4e9}[jnp.dtype(dtype).name]
  monkeypatch.setattr(flops, "measure_system_peak_flops", fake_measure)

  assert flops.system_peak_flops(jnp.float32) == 1e9
  assert flops.system_peak_flops(jnp.bfloat16) == 4e9  # the dtype the run computes in
  assert flops.system_peak_flops(jnp.float32) == 1e9
  assert measured == ["float32", "bfloat16"]
  path = tmp_path / "cache" / "peak_flops.json"
  cached = json.loads(path.read_text())
  assert sorted(k.rsplit("/", 1)[1] for k in cached) == ["bfloat16", "float32"]

  path.write_text("{not json")  # a broken cache costs one measurement, not the run
  assert flops.system_peak_flops(jnp.float32) == 1e9 and measured[-1] == "float32"
  assert json.loads(path.read_text())  # rewritten


def test_tests_do_not_write_the_real_cache():
  assert "attnlab-test-cache-" in cli.cache_dir()
