"""The throughput benchmark runs end to end on a tiny config and reports sane numbers."""
import json
import math

from experiments.bench import train_throughput
from tests import tiny


def test_benchmark_reports_positive_finite_numbers(tmp_path, capsys):
  corpus = tiny.write_corpus(str(tmp_path))
  config = tiny.tiny_config(corpus, str(tmp_path / "tfds"))
  row = train_throughput.benchmark(config, str(tmp_path / "work"), steps=3, warmup=1,
                                   name="tiny")
  train_throughput.report(row)
  last = capsys.readouterr().out.strip().splitlines()[-1]
  parsed = json.loads(last)
  for key in ("tokens_per_sec", "step_time_s", "compile_s", "peak_memory_mb", "mfu",
              "model_flops_per_token", "params"):
    assert math.isfinite(parsed[key]) and parsed[key] > 0, (key, parsed[key])
  assert parsed["devices"] == 8 and parsed["backend"] == "cpu"
  assert parsed["config"] == "tiny" and parsed["steps"] == 3
  assert math.isclose(parsed["tokens_per_sec"],
                      8 * 32 / parsed["step_time_s"], rel_tol=1e-6)
  assert math.isfinite(parsed["final_loss"])
