"""The values every encoder-decoder config starts from (not a runnable experiment).

seq2seq_reverse.py, t5_tiny_span.py and translate_tiny.py start here; its keys (model.*
encoder_decoder ones, data.max_target_len/packing/..., decode.*) are base.py's, marked
"encoder_decoder only" there; any can be overridden on the command line
(--config.model.num_decoder_layers=4, --config.decode.beam_size=1).
Defaults are T5-style: pre-RMSNorm, T5 relative position bias, ReLU MLP, no biases, one
shared and tied embedding. The original Transformer is norm_placement=post,
norm=layernorm, position=sinusoidal, scale_embeddings=True, use_bias=True.
"""
import ml_collections

from experiments.configs import base


def get_config() -> ml_collections.ConfigDict:
  c = base.get_config()
  c.objective = "seq2seq"
  m = c.model
  m.family = "encoder_decoder"
  m.norm = "rmsnorm"
  m.norm_placement = "pre"
  m.position = "relative"  # relative (T5 buckets) | rope | sinusoidal | learned | none
  m.activation = "relu"
  m.use_bias = False
  m.tie_embeddings = True  # output layer = the (decoder's) token embedding, transposed
  c.sample.num_samples = 0  # LM sampling does not apply
  return c
