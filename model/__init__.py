"""Pure-functional Flax Linen models; `build(config.model)` picks the family."""
from __future__ import annotations

from typing import Any

import flax.linen as nn

from model import decoder
from model import layers

FAMILIES = ("gpt",)


def build(model_config: Any) -> nn.Module:
  """The Linen module for `config.model` (validated: bad values raise ValueError)."""
  if model_config.family not in FAMILIES:
    raise ValueError(
        f"unknown model.family={model_config.family!r}; choose one of {', '.join(FAMILIES)}")
  return decoder.Decoder(layers.TransformerConfig.from_config(model_config))
