"""One config schema: every key lives in experiments/configs/base.py with a comment, other
configs only set values, and a saved config is completed from base.py in one place."""
import glob
import importlib
import json
import os
import re

import pytest

from experiments.configs import base
from tests import tiny
from train import experiment

CONFIG_DIR = os.path.join(os.path.dirname(base.__file__))
_NOT_RUNS = ("__init__", "base", "from_workdir")


def _flat(c, prefix=""):
  out = {}
  for k, v in c.items():
    out.update(_flat(v, f"{prefix}{k}.") if hasattr(v, "items") else {prefix + k: v})
  return out


@pytest.mark.parametrize("name", sorted(
    os.path.basename(p)[:-3] for p in glob.glob(os.path.join(CONFIG_DIR, "*.py"))
    if os.path.basename(p)[:-3] not in _NOT_RUNS))
def test_configs_only_set_base_keys(name):
  config = importlib.import_module(f"experiments.configs.{name}").get_config()
  extra = sorted(set(_flat(config)) - set(_flat(base.get_config())))
  assert not extra, f"{name}.py introduces keys base.py lacks: {extra}"
  experiment.check_owned_keys(config)  # and leaves other families'/objectives' keys alone


def test_every_base_key_has_a_comment():
  lines = open(base.__file__.replace(".pyc", ".py"), encoding="utf-8").read().splitlines()
  bare = [line.strip() for i, line in enumerate(lines)
          if re.match(r"  [a-z]{1,2}\.\w+ = ", line) and "ConfigDict()" not in line
          and "#" not in line and not lines[i - 1].strip().startswith("#")]
  assert not bare, f"base.py keys without a comment: {bare}"


def test_owned_keys_exist_and_say_whose_they_are():
  flat = _flat(base.get_config())
  source = open(base.__file__, encoding="utf-8").read()
  var = dict(re.findall(r"c\.(\w+) = (\w+) = ml_collections\.ConfigDict\(\)", source))
  for key, (selector, owners) in base.OWNERS.items():
    assert key in flat or any(k.startswith(key + ".") for k in flat), key
    assert selector in flat and all(isinstance(o, str) for o in owners)
    section, _, name = key.partition(".")
    for k in [name] if name else [k.split(".")[1] for k in flat if k.startswith(section + ".")]:
      # its line, with the comment block right above it
      line = re.search(rf"((\n  #.*)*)\n  {var[section]}\.{k} = .*", source).group(0).strip()
      assert " only" in line, f"{section}.{k}'s comment does not say whose it is: {line}"


def test_saved_config_is_completed_from_base(tmp_path):
  saved = tiny.tiny_config(tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds")).to_dict()
  del saved["decode"], saved["chat"], saved["data"]["packing"], saved["train"]["peak_flops"]
  saved["data"]["seq_len"] = 16
  saved["retired_key"] = 1  # written by another attnlab version: kept
  with open(tmp_path / "config.json", "w") as f:
    json.dump(saved, f)
  config = experiment.load_config(str(tmp_path))
  assert _flat(config) == {**_flat(base.get_config()), **_flat(saved)}
  assert (config.data.seq_len, config.decode.beam_size, config.data.packing,
          config.train.peak_flops) == (16, 4, False, 0.0)
  del config["retired_key"]
  experiment.validate(config)  # reads every key directly
