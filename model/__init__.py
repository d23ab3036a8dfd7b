"""Pure-functional Flax Linen models; `build(config.model)` picks the family."""
from __future__ import annotations

from typing import Any, Union

import flax.linen as nn

from model import decoder
from model import encoder
from model import encoder_decoder
from model import layers
from model import positions
from model import rnn

FAMILIES = ("gpt", "lstm", "bert", "electra", "encoder_decoder")
ModelConfig = Union[layers.TransformerConfig, rnn.LSTMConfig]  # every module's `.cfg`


def build(model_config: Any) -> nn.Module:
  """The Linen module for `config.model` (validated: bad values raise ValueError)."""
  if model_config.family not in FAMILIES:
    raise ValueError(
        f"unknown model.family={model_config.family!r}; choose one of {', '.join(FAMILIES)}")
  if model_config.family == "lstm":
    return rnn.LSTMLanguageModel(rnn.LSTMConfig.from_config(model_config))
  positions.check(model_config.position, model_config.family)
  cfg = layers.TransformerConfig.from_config(model_config)
  if model_config.family == "bert":  # also RoBERTa / ALBERT (config choices)
    return encoder.Encoder(cfg, encoder.EncoderOptions.from_config(model_config))
  if model_config.family == "electra":
    ratio = model_config.generator_ratio
    if not 0.0 < ratio <= 1.0:
      raise ValueError(f"model.generator_ratio must be in (0, 1], got {ratio}")
    return encoder.Electra(cfg, encoder.EncoderOptions.from_config(model_config), ratio)
  if model_config.family == "encoder_decoder":  # original Transformer / T5 (config choices)
    return encoder_decoder.EncoderDecoder(
        cfg, encoder_decoder.EncDecOptions.from_config(model_config))
  return decoder.Decoder(cfg)
