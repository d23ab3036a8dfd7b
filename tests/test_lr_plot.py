"""experiments/lr_plot.py: the lr study's summary (best lr, basin, bootstrap, Wortsman et
al.'s sensitivity) on hand-made sweep data, diverged seeds kept out of the optimum, and its
plot and tables written."""
import math
import os

import numpy as np
import pytest

from experiments import lr_plot

VOCAB = 100  # L0 = ln 100: a uniform predictor's loss caps each value
CURVE = [(1, 4.6), (2, 3.9), (3, 3.5)]


def _entry(values, diverged=()):
  return {"values": list(values), "diverged": list(diverged), "missing": 0,
          "curves": [CURVE] * (len(values) + len(diverged))}


DATA = {"label": "toy", "vocab_size": VOCAB, "workdir": "unused", "by_lr": {
    1e-3: _entry([3.0, 3.2]),
    1e-2: _entry([2.0, 2.1]),
    1e-1: _entry([2.08, 2.12]),
    1.0: _entry([2.0], diverged=[40]),  # lowest mean of its survivors, but a seed diverged
}}


@pytest.fixture(scope="module")
def summary():
  return lr_plot.summarize(DATA, basin=0.06, rng=np.random.default_rng(0))


def test_best_lr_basin_and_sensitivity_equal_hand_numbers(summary):
  assert summary["best"]["lr"] == 1e-2 and summary["best"]["mean"] == pytest.approx(2.05)
  assert summary["basin"] == (1e-2, 1e-1, 2)  # 2.10 is within 0.06 of 2.05; 3.1 is not
  l0 = math.log(VOCAB)
  per_lr = [3.1, 2.05, 2.10, (min(2.0, l0) + l0) / 2]  # the diverged seed counts as L0
  assert summary["sensitivity"] == pytest.approx(np.mean(per_lr) - 2.05, rel=1e-9)
  assert summary["decades"] == pytest.approx(3.0)
  rows = {r["lr"]: r for r in summary["rows"]}
  assert rows[1.0]["diverged"] == 1 and rows[1.0]["n"] == 1


def test_bootstrap_of_the_argmin(summary):
  # 1e-2 loses only when its resample is (2.1, 2.1) and 1e-1's is (2.08, 2.08): 1/16
  assert summary["argmin_interval"] == (1e-2, 1e-1)
  assert 0.9 < summary["argmin_share"] < 0.97


def test_plot_and_tables_are_written(summary, tmp_path):
  path = lr_plot.plot([DATA], [summary], str(tmp_path / "lr.png"))
  assert os.path.getsize(path) > 10_000
  csv_path, md_path = lr_plot.write_tables([summary], 0.06, str(tmp_path))
  md = open(md_path).read()
  assert "best lr 0.01: 2.0500" in md and "| 1 | 1 | 1 | 0 |" in md
  assert len(open(csv_path).read().splitlines()) == 1 + 4


def test_load_splits_a_width_axis_into_curves(tmp_path):
  """A sweep over width x lr (zipped) read as one curve per width, with the final
  evaluation's extent in the data (here a 40-batch estimate, not the whole split)."""
  import json

  from experiments import sweep_spec
  sweep = sweep_spec.Sweep(
      base="experiments/configs/gpt_tiny.py",
      axes={"model.d_model": [64, 64, 128, 128],
            "train.learning_rate": [1e-3, 1e-2, 1e-3, 1e-2]},
      overrides={"train.final_eval_batches": 40}, zip=True)
  workdir = str(tmp_path)
  sweep_spec.save_manifest(workdir, sweep, seeds=1)
  _, runs = sweep_spec.load_manifest(workdir)
  for run in runs:
    run_dir = os.path.join(workdir, run.name)
    os.makedirs(run_dir)
    loss = run.arm_values["model.d_model"] / 100 + run.arm_values["train.learning_rate"]
    with open(os.path.join(run_dir, "final.json"), "w") as f:
      json.dump({"loss": loss}, f)
  datas = lr_plot.load(workdir, "loss", split_by="model.d_model")
  assert [d["label"] for d in datas] == ["gpt_tiny adamw d_model=64",
                                         "gpt_tiny adamw d_model=128"]
  assert [list(d["by_lr"]) for d in datas] == [[1e-3, 1e-2]] * 2
  assert datas[1]["by_lr"][1e-2]["values"] == [pytest.approx(1.29)]
  assert datas[0]["evaluated_on"] == "40 batches" and datas[0]["split_value"] == 64
  with pytest.raises(ValueError, match="no model.num_layers axis"):
    lr_plot.load(workdir, "loss", split_by="model.num_layers")


def test_parabola_optimum_finds_an_off_grid_vertex():
  lrs = [float(10 ** e) for e in np.arange(-4, -1, 0.25)]
  means = [(math.log10(lr) + 2.6) ** 2 + 4 for lr in lrs]  # optimum between grid points
  assert lr_plot.parabola_optimum(lrs, means) == pytest.approx(10 ** -2.6, rel=1e-6)
  assert lr_plot.parabola_optimum(lrs, [-m for m in means]) is None  # concave
  assert lr_plot.parabola_optimum(lrs, list(range(len(lrs), 0, -1))) is None  # at the edge


def test_summary_reports_the_vertex_and_its_bootstrap(summary):
  assert summary["vertex"] is not None and 1e-2 < summary["vertex"] < 1e-1
  lo, hi = summary["vertex_interval"]
  assert lo <= summary["vertex"] <= hi and summary["vertex_share"] > 0.5


def test_optimum_scaling_recovers_an_exponent():
  widths = [64, 128, 256]
  summaries = [{"vertex": 0.01 * 128 / w, "vertex_samples": [0.01 * 128 / w * f
                                                              for f in (0.9, 1.0, 1.1)]}
               for w in widths]
  out = lr_plot.optimum_scaling(widths, summaries)
  assert out["slope"] == pytest.approx(-1.0) and out["bootstraps"] == 3
  assert out["interval"][0] == pytest.approx(-1.0) == pytest.approx(out["interval"][1])
  summaries[1]["vertex"] = None
  assert lr_plot.optimum_scaling(widths, summaries) is None


def test_scaling_section_needs_numbers_and_fits():
  datas = [{"split_value": "rope"}, {"split_value": "alibi"}]
  assert "not numbers" in lr_plot.scaling_lines("model.position", datas, [{}, {}])[-1]
  datas = [{"split_value": 64}, {"split_value": 128}]
  no_fit = [{"vertex": None, "vertex_samples": []}] * 2
  assert "no exponent" in lr_plot.scaling_lines("model.d_model", datas, no_fit)[-1]
