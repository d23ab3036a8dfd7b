"""The scaling benchmark times each mesh layout end to end on a tiny config."""
import json

from experiments.bench import scaling
from tests import tiny


def test_scaling_rows_per_layout(tmp_path):
  config = tiny.tiny_config(tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds"))
  config.model.vocab_size = 64
  rows = scaling.run(config, str(tmp_path / "work"), ["data", "fsdp_tensor"], steps=2,
                     warmup=0, name="tiny")
  assert [r["layout"] for r in rows] == ["data", "fsdp_tensor"]
  assert [r["mesh"] for r in rows] == [[8, 1, 1], [1, 4, 2]]
  for r in rows:
    assert r["tokens_per_sec"] > 0 and r["compile_s"] > 0 and r["mfu"] > 0
  # FSDP x tensor holds an eighth of the (evenly divisible) matrices per device.
  assert rows[1]["state_mib_per_device"] < rows[0]["state_mib_per_device"] / 4
  assert "fsdp_tensor" in scaling.format_table(rows)
  json.dumps(rows)
