"""Pure-functional Flax Linen models; `build(config.model)` picks the family."""
from __future__ import annotations

from typing import Any, Union

import flax.linen as nn

from model import decoder
from model import layers
from model import rnn

FAMILIES = ("gpt", "lstm")
ModelConfig = Union[layers.TransformerConfig, rnn.LSTMConfig]  # every module's `.cfg`


def build(model_config: Any) -> nn.Module:
  """The Linen module for `config.model` (validated: bad values raise ValueError)."""
  if model_config.family not in FAMILIES:
    raise ValueError(
        f"unknown model.family={model_config.family!r}; choose one of {', '.join(FAMILIES)}")
  if model_config.family == "lstm":
    return rnn.LSTMLanguageModel(rnn.LSTMConfig.from_config(model_config))
  return decoder.Decoder(layers.TransformerConfig.from_config(model_config))
