"""Bad input fails fast with a ValueError that names the problem and the fix."""
import os

import pytest

from tests import tiny
from train import experiment


@pytest.mark.parametrize("key,value,match", [
    ("model.d_model", 30, "must divide model.d_model"),
    ("model.num_kv_heads", 3, "multiple of"),
    ("model.position", "alibi", "unknown model.position"),
    ("train.optimizer", "adamax", "unknown train.optimizer"),
    ("train.schedule", "triangle", "unknown train.schedule"),
    ("objective", "mlm_typo", "unknown objective"),
    ("data.seq_len", 64, "longer than model.max_len"),
    ("data.batch_size", 12, "not divisible by the data-parallel size 8"),
    ("mesh.tensor", 3, "does not divide the 8 devices"),
    ("train.warmup_steps", 1000, "train.warmup_steps=1000"),
])
def test_bad_config_raises_before_any_work(corpus, tmp_path, key, value, match):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir)
  c.mesh.data = -1  # all 8 devices: the messages name them
  c.update_from_flattened_dict({key: value})
  with pytest.raises(ValueError, match=match):
    experiment.validate(c)
  workdir = str(tmp_path / "w")
  with pytest.raises(ValueError, match=match):
    experiment.build(c, workdir)
  assert not os.path.exists(os.path.join(workdir, "tokenizer")), "failed after work began"


def test_unknown_dataset_names_it(corpus, tmp_path):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir)
  c.data.dataset = "no_such_dataset_xyz"
  with pytest.raises(ValueError, match="no_such_dataset_xyz"):
    experiment.build(c, str(tmp_path / "w"))


def test_empty_corpus_and_non_utf8_file_name_the_file(tmp_path):
  empty = tmp_path / "empty.txt"
  empty.write_text("")
  bad = tmp_path / "latin1.txt"
  bad.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 10)
  for f, match in ((empty, "empty"), (bad, "latin1.txt")):
    c = tiny.tiny_config(str(f), str(tmp_path / "tfds"))
    with pytest.raises(ValueError, match=match):
      experiment.build(c, str(tmp_path / f"w_{f.stem}"))


def test_not_a_workdir(tmp_path):
  with pytest.raises(ValueError, match="not an attnlab workdir"):
    experiment.load_config(str(tmp_path))
