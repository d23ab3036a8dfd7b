"""The throughput benchmark runs end to end on a tiny config and reports sane numbers."""
import json
import math
import os

from experiments.bench import train_throughput
from tests import tiny


def test_benchmark_reports_positive_finite_numbers(tmp_path, capsys):
  corpus = tiny.write_corpus(str(tmp_path))
  config = tiny.tiny_config(corpus, str(tmp_path / "tfds"))
  config.mesh.data = -1  # the benchmark times the step on the whole mesh
  row = train_throughput.benchmark(config, str(tmp_path / "work"), steps=3, warmup=1,
                                   name="tiny", overheads=True)
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
  overheads = parsed["overheads_s"]  # a run's other costs: tiny's config writes samples
  assert {"startup", "init", "eval_compile", "eval_whole_split", "samples"} <= set(overheads)
  assert all(math.isfinite(v) and v > 0 for v in overheads.values()), overheads
  assert (tmp_path / "work" / "samples.txt").exists()


def test_torch_comparison_takes_the_configs_shape_and_refuses_other_models():
  import pytest

  from experiments.bench import timing
  from experiments.configs import gpt_shakespeare_char
  config = gpt_shakespeare_char.get_config()
  run = timing.torch_gpt_run_config(config, 68)
  assert run == {"mode": "run", "layers": 4, "heads": 4, "d_model": 128, "seq_len": 64,
                 "batch": 12, "vocab": 68, "dropout": 0.0, "max_iters": 2000,
                 "learning_rate": 1e-3, "min_lr": 1e-4, "warmup_iters": 100,
                 "eval_interval": 250, "eval_iters": 20, "weight_decay": 0.1,
                 "text_file": os.path.abspath(config.data.files)}
  assert timing.torch_gpt_config(config, 65, steps=5, warmup=1) == {
      "mode": "steps", "layers": 4, "heads": 4, "d_model": 128, "seq_len": 64, "batch": 12,
      "vocab": 65, "dropout": 0.0, "steps": 5, "warmup": 1}
  config.model.mlp_dim = 256
  with pytest.raises(ValueError, match="mlp_dim = 4 x d_model"):
    timing.torch_gpt_config(config, 65, steps=5, warmup=1)


def test_a_python_without_torch_is_named_with_the_fix():
  import importlib.util
  import sys

  import pytest

  from experiments.bench import timing
  if importlib.util.find_spec("torch") is not None:
    pytest.skip("this interpreter has torch")
  with pytest.raises(ValueError, match=r"could not run torch_gpt.py \(ModuleNotFoundError: No module named .torch.\); .*pip install torch"):
    timing.run_torch_script(sys.executable, "torch_gpt.py", ["{}"])


def test_rl_iteration_times_each_phase_of_a_grpo_step(tmp_path):
  from experiments.bench import rl_iteration
  from experiments.configs import grpo_tiny
  c = grpo_tiny.get_config()
  c.model.update(d_model=32, num_layers=1, num_heads=2, mlp_dim=64, max_len=16)
  c.data.update(seq_len=8, batch_size=8, tokenizer="char", data_dir=str(tmp_path / "tfds"))
  c.rl.update(group_size=2, max_new_tokens=4)
  row = rl_iteration.benchmark(c, str(tmp_path), steps=2, warmup=0, reps=1)
  assert row["rows"] == 16 and row["new_tokens"] == 4
  assert math.isclose(row["rollout_tokens_per_sec"], 16 * 4 / row["generate_s"])
  assert math.isclose(row["rollout_vs_reference"],
                      row["rollout_tokens_per_sec"] / row["reference_decode_tokens_per_sec"])
  for key in ("generate_s", "score_s", "step_s", "reference_decode_tokens_per_sec"):
    assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
  assert math.isclose(row["generate_fraction"] + row["score_fraction"] + row["update_fraction"],
                      1.0)


def test_benchmark_reads_the_tasks_own_batches(tmp_path):
  """An encoder objective with sentence pairs (its batches carry pair labels) is timed on
  the batches its task makes, as train.main trains it."""
  corpus = tiny.write_corpus(str(tmp_path))
  config = tiny.tiny_config(corpus, str(tmp_path / "tfds"))
  config.objective, config.model.family = "mlm_nsp", "bert"
  config.data.mask_token = True
  row = train_throughput.benchmark(config, str(tmp_path / "work"), steps=2, warmup=1,
                                   name="tiny_mlm_nsp")
  assert math.isfinite(row["final_loss"]) and row["step_time_s"] > 0


def test_benchmarks_record_what_their_figures_depend_on():
  import jax

  from experiments.bench import timing
  from train import cli
  setup = timing.run_setup()
  assert setup["machine"] == cli.machine() and setup["allocator"] == cli.allocator()
  assert setup["libraries"]["jaxlib"] == jax.__version__  # released together
  assert setup["code"]
