"""MFU: its peak measured once per machine and dtype (cached), its FLOPs per task."""
import json

import jax.numpy as jnp
import pytest

from experiments.configs import seq2seq_reverse
from tests import tiny
from train import cli
from train import experiment
from train import flops
from train import step


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


def test_a_cached_cpu_peak_is_another_machines_only_on_the_same_processor(tmp_path,
                                                                         monkeypatch):
  """One cache directory on two CPUs (a shared home): each machine measures its own peak."""
  monkeypatch.setenv("ATTNLAB_CACHE_DIR", str(tmp_path / "cache"))
  monkeypatch.setattr(flops, "measure_system_peak_flops", lambda dtype: 1e9)
  assert flops.system_peak_flops(jnp.float32) == 1e9
  here = cli.machine()
  monkeypatch.setattr(cli, "machine", lambda: {**here, "cpu": "Other CPU", "isa": ["avx2"]})
  monkeypatch.setattr(flops, "measure_system_peak_flops", lambda dtype: 3e9)
  assert flops.system_peak_flops(jnp.float32) == 3e9  # measured, not the first machine's
  assert "/Other CPU/avx2/" in flops.peak_cache_key(jnp.float32)
  cached = json.loads((tmp_path / "cache" / "peak_flops.json").read_text())
  assert sorted(cached.values()) == [1e9, 3e9]


def test_tests_do_not_write_the_real_cache():
  assert "attnlab-test-cache-" in cli.cache_dir()


def _classification_config(root):
  d = root / "glue"
  d.mkdir()
  for split, n in (("train", 16), ("dev", 8)):
    rows = "".join(f"{'a good film' if i % 2 else 'a dull plot'} {i}\t{i % 2}\n" for i in range(n))
    (d / f"{split}.tsv").write_text("sentence\tlabel\n" + rows)
  c = tiny.tiny_config(tiny.write_corpus(str(root)), str(root / "tfds"))
  c.objective, c.model.family = "classification", "bert"
  c.data.update(dataset="glue_tsv", files=str(d), text_key="sentence", tokenizer="byte",
                eval_split="train")
  return c


def _config(case, root):
  """A tiny config of each family and objective whose FLOPs the loop counts."""
  if case == "classification":
    return _classification_config(root)
  if case == "seq2seq":
    c = seq2seq_reverse.get_config()
    c.data.update(data_dir=str(root / "tfds"), num_train=64, num_eval=16, seq_len=8,
                  max_target_len=8, max_len=6, batch_size=8)
    c.model.update(d_model=32, mlp_dim=64, max_len=8, num_layers=1)
    return c
  c = tiny.tiny_config(tiny.write_corpus(str(root)), str(root / "tfds"))
  if case in ("mlm", "albert", "electra"):
    c.objective = "electra" if case == "electra" else "mlm"
    c.model.family = "electra" if case == "electra" else "bert"
    c.data.mask_token = True
    c.model.embed_dim = 16 if case == "albert" else 0  # ALBERT's factorized tables
  if case == "span_corruption":
    c.objective, c.model.family, c.data.num_sentinels = case, "encoder_decoder", 20
  return c


@pytest.mark.parametrize("case", ["gpt", "mlm", "albert", "electra", "classification",
                                  "seq2seq", "span_corruption"])
def test_counted_flops_match_what_xla_counts_in_the_train_step(case, tmp_path):
  """The MFU numerator (the task's analytic training FLOPs per token) against XLA's cost
  analysis of the lowered train step. XLA also counts the elementwise work (norms,
  softmax, GELU, the optimizer: 5-13 % at these tiny widths), so the analytic count sits a
  little below it; a missing part (ELECTRA's generator, an encoder-decoder's decoder, an
  LM output a classifier never computes) moves it out of the band. (An LSTM is not
  compared: cost analysis counts a scan's body once, not once per time step.)"""
  config = _config(case, tmp_path)
  exp = experiment.build(config, str(tmp_path / "run"))
  batch = next(iter(exp.task.make_dataset(
      config.data, exp.tokenizer, config.data.train_split, seed=0, train=True,
      task_cfg=config.task)))
  train_fn, _ = step.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                   exp.schedule)
  xla = train_fn.lower(exp.abstract_state, batch).cost_analysis()["flops"]
  counted = exp.task.flops_per_token(config, exp.model_config)
  ratio = counted * config.data.batch_size * config.data.seq_len / xla
  assert 0.8 < ratio < 1.0, f"{case}: counted / XLA = {ratio:.3f}"

