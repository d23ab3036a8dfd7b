"""<workdir>/environment.json: where each start of a run ran, and a warning when a resume
runs on another setup."""
import json

import jax

from train import cli
from train import provenance


def _starts(workdir):
  return json.load(open(workdir / provenance.FILE))


def test_each_start_is_recorded_and_a_resume_on_the_same_setup_is_quiet(tmp_path, capsys):
  provenance.record(str(tmp_path), 0)
  provenance.record(str(tmp_path), 40)
  first, resumed = _starts(tmp_path)
  assert (first["step"], resumed["step"]) == (0, 40)
  assert first["libraries"]["jax"] == jax.__version__
  assert first["backend"] == "cpu" and first["processor"] == cli.machine()
  assert "commit" in first["code"] or "version" in first["code"]
  assert {k: first[k] for k in provenance.COMPARED} == {k: resumed[k]
                                                         for k in provenance.COMPARED}
  assert "another setup" not in capsys.readouterr().err


def test_a_resume_on_another_processor_or_library_warns_which(tmp_path, capsys, monkeypatch):
  provenance.record(str(tmp_path), 0)
  setup = provenance.describe()
  other = {**setup, "processor": {**setup["processor"], "isa": ["avx2"]},
           "libraries": {**setup["libraries"], "jaxlib": "0.0.1"}}
  monkeypatch.setattr(provenance, "describe", lambda: other)
  provenance.record(str(tmp_path), 25)
  err = capsys.readouterr().err
  assert "resumes at step 25 on another setup" in err
  assert "processor.isa" in err and "libraries.jaxlib" in err and "0.0.1" in err
  assert [s["step"] for s in _starts(tmp_path)] == [0, 25]


def test_an_unreadable_record_is_started_afresh(tmp_path):
  (tmp_path / provenance.FILE).write_text("{not json")
  provenance.record(str(tmp_path), 0)
  assert [s["step"] for s in _starts(tmp_path)] == [0]
