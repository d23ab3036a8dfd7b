"""The resolved config of an existing workdir, to train on from it (e.g. a converted HF model).

  python -m train.main --config=experiments/configs/from_workdir.py:/tmp/gpt2 \
      --workdir=/tmp/gpt2_ft --config.init_from=/tmp/gpt2 --config.train.steps=100 \
      --config.data.dataset=text_files --config.data.files=my.txt

Every base.py key can still be overridden with --config.<key>=<value>; the model keys
(and, through init_from, the tokenizer) are the source's, so its params fit.
"""
import json
import os

import ml_collections

from experiments.configs import base


def get_config(workdir: str = "") -> ml_collections.ConfigDict:
  if not workdir:
    raise ValueError("name the workdir: --config=experiments/configs/from_workdir.py:DIR")
  path = os.path.join(os.path.expanduser(workdir), "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{path} does not exist: not an attnlab workdir")
  with open(path) as f:
    saved = json.load(f)
  config = base.complete(saved)  # keys added since the workdir was written keep defaults
  config.init_from = ""
  return config
