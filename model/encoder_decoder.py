"""Encoder-decoder Transformer: the shared block stack twice, joined by cross-attention.

The encoder is `blocks.block_stack(causal=False)` under the source's padding mask; the
decoder is `block_stack(causal=True)` with cross-attention to the encoder output under
the same padding mask. Config values pick the flavour:
- original Transformer (Vaswani et al. 2017): norm_placement=post, layernorm,
  position=sinusoidal, scale_embeddings=True (token embeddings x sqrt(d_model)), relu.
- T5 (Raffel et al. 2020): norm_placement=pre, rmsnorm, position=relative (T5's bucketed
  relative position bias, one table per stack computed once and added to every layer's
  self-attention logits through the kernel's `bias`, as T5 shares layer 0's), no biases,
  scale_tied_logits=True (decoder output x d_model**-0.5 before the tied embedding).
  position=rope is the other choice for T5-style stacks.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import attention
from model import blocks
from model import dropout as dropout_lib
from model import layers
from model import positions as positions_lib

DECODER_START_ID = 2  # BOS of every attnlab tokenizer (T5 starts with pad 0: configurable)


@dataclasses.dataclass(frozen=True)
class EncDecOptions:
  """What the encoder-decoder adds to TransformerConfig (hashable, so modules can hold it)."""
  num_decoder_layers: int
  share_embeddings: bool = True  # one token table for source, target (and tied output)
  scale_embeddings: bool = False  # Vaswani: token embeddings x sqrt(d_model)
  scale_tied_logits: bool = False  # T5: decoder output x d_model**-0.5 before tied output
  relative_buckets: int = 32  # T5 relative_attention_num_buckets
  relative_max_distance: int = 128  # T5 relative_attention_max_distance
  decoder_start_id: int = DECODER_START_ID

  @classmethod
  def from_config(cls, m: Any) -> "EncDecOptions":
    layers.check(m.num_decoder_layers >= 0, "model.num_decoder_layers",
                 m.num_decoder_layers, "must be >= 0", "0 means model.num_layers")
    dec_layers = m.num_decoder_layers or m.num_layers
    layers.check(m.decoder_start_id >= 0, "model.decoder_start_id", m.decoder_start_id,
                 "must be a token id >= 0", "BOS is 2; T5 checkpoints start from pad (0)")
    buckets = m.relative_buckets
    max_distance = m.relative_max_distance
    if buckets < 4 or max_distance <= buckets // 4:
      raise ValueError(
          f"model.relative_buckets={buckets} must be >= 4 and model.relative_max_distance="
          f"{max_distance} larger than the exact range ({buckets // 4}, T5 uses 32 / 128)")
    return cls(num_decoder_layers=dec_layers,
               share_embeddings=bool(m.share_embeddings),
               scale_embeddings=bool(m.scale_embeddings),
               scale_tied_logits=bool(m.scale_tied_logits),
               relative_buckets=buckets, relative_max_distance=max_distance,
               decoder_start_id=m.decoder_start_id)


def shift_right(targets_BxT: jax.Array, start_id: int,
                positions_BxT: Optional[jax.Array] = None) -> jax.Array:
  """Teacher-forcing decoder inputs: [start, y_0, ..., y_{T-2}].

  With packed targets' positions, every example restarts: its first input is `start`,
  not the previous example's last token.
  """
  start = jnp.full_like(targets_BxT[:, :1], start_id)
  shifted = jnp.concatenate([start, targets_BxT[:, :-1]], axis=1)
  if positions_BxT is not None:
    shifted = jnp.where(positions_BxT == 0, start_id, shifted)
  return shifted


class _Stack(nn.Module):
  """block_stack + final norm (pre-norm) as a compact submodule of the setup-style model."""
  cfg: layers.TransformerConfig
  causal: bool

  @nn.compact
  def __call__(self, x_BxTxD, mask, positions, *, bias=None, encoded_BxSxD=None,
               cross_mask=None, decode: bool = False, deterministic: bool = True):
    x_BxTxD = blocks.block_stack(
        self.cfg, x_BxTxD, mask, positions, deterministic, parent_name="layers",
        causal=self.causal, decode=decode, bias=bias, encoded_BxSxD=encoded_BxSxD,
        cross_mask=cross_mask)
    if self.cfg.norm_placement == "pre":  # post-norm blocks already end in a norm
      x_BxTxD = layers.Norm(self.cfg, name="final_norm")(x_BxTxD)
    return x_BxTxD


def _positions(tokens_BxT: jax.Array) -> jax.Array:
  return jnp.broadcast_to(jnp.arange(tokens_BxT.shape[1])[None], tokens_BxT.shape)


class EncoderDecoder(nn.Module):
  """inputs [B, S] (0 = padding), decoder_inputs [B, T] -> logits [B, T, vocab] float32.

  `encode` and `decode` are separate methods so decoding runs the encoder once.
  """
  cfg: layers.TransformerConfig  # the encoder's; the decoder's differs in num_layers
  opts: EncDecOptions

  def setup(self):
    cfg, opts = self.cfg, self.opts
    # Positions as in every family (model/positions.py): the Embedder adds learned or
    # sinusoidal ones, RoPE acts in attention, relative ones are this model's bias.
    if opts.share_embeddings:
      self.shared_embed = layers.Embedder(cfg)
    else:
      self.encoder_embed = layers.Embedder(cfg)
      self.decoder_embed = layers.Embedder(cfg)
    self.dec_cfg = dataclasses.replace(cfg, num_layers=opts.num_decoder_layers)
    if positions_lib.attention_bias(cfg.position):
      kw = dict(num_heads=cfg.num_heads, num_buckets=opts.relative_buckets,
                max_distance=opts.relative_max_distance, init_std=cfg.init_std)
      self.encoder_relative_bias = positions_lib.RelativePositionBias(bidirectional=True, **kw)
      self.decoder_relative_bias = positions_lib.RelativePositionBias(bidirectional=False, **kw)
    self.encoder = _Stack(cfg, causal=False)
    self.decoder = _Stack(self.dec_cfg, causal=True)
    if not cfg.tie_embeddings:
      self.lm_head = layers.dense(cfg.vocab_size, ("embed", "vocab"), cfg, "lm_head")
    self.dropout = dropout_lib.Dropout(cfg.dropout)

  def _embedder(self, side: str) -> layers.Embedder:
    if self.opts.share_embeddings:
      return self.shared_embed
    return self.encoder_embed if side == "encoder" else self.decoder_embed

  def _embed(self, side: str, tokens_BxT, positions_BxT, deterministic: bool):
    cfg = self.cfg
    if tokens_BxT.shape[1] > cfg.max_len and positions_lib.adds_embedding(cfg.position):
      raise ValueError(f"{side} length {tokens_BxT.shape[1]} exceeds model.max_len="
                       f"{cfg.max_len}; raise model.max_len or shorten the data")
    x = self._embedder(side)(tokens_BxT, positions_BxT)
    if self.opts.scale_embeddings:
      x = x * jnp.asarray(cfg.d_model ** 0.5, x.dtype)
    x = self.dropout(x, deterministic=deterministic)
    return nn.with_logical_constraint(x, ("batch", "length", "embed"))

  def _relative_bias(self, side: str, q_positions_BxT, k_positions_BxS, packed: bool):
    """[1, N, T, S] when every row sits at the same positions, else [B, N, T, S]."""
    if not packed:
      q_positions_BxT, k_positions_BxS = q_positions_BxT[:1], k_positions_BxS[:1]
    table = self.encoder_relative_bias if side == "encoder" else self.decoder_relative_bias
    return table(q_positions_BxT, k_positions_BxS)

  def encode(self, inputs_BxS: jax.Array, *, segment_ids: Optional[jax.Array] = None,
             positions: Optional[jax.Array] = None, deterministic: bool = True) -> jax.Array:
    """Encoder output [B, S, D]; padding (id 0) is never attended to.

    Packed rows (data.packing) give segment_ids [B, S] (1, 2, ... per example, 0 =
    padding) and positions restarting per example: examples then do not see each other.
    """
    cfg = self.cfg
    packed = segment_ids is not None
    positions = _positions(inputs_BxS) if positions is None else positions
    x = self._embed("encoder", inputs_BxS, positions, deterministic)
    if segment_ids is None:  # one example per row: the valid tokens are its segment
      segment_ids = (inputs_BxS != 0).astype(jnp.int32)
    mask = attention.make_attention_mask(segment_ids)
    bias = None
    if positions_lib.attention_bias(cfg.position):
      bias = self._relative_bias("encoder", positions, positions, packed)
    x = self.encoder(x, mask, positions, bias=bias, deterministic=deterministic)
    return self.dropout(x, deterministic=deterministic)

  def decode(self, encoded_BxSxD: jax.Array, inputs_BxS: jax.Array,
             decoder_inputs_BxT: jax.Array, *, deterministic: bool = True,
             decode: bool = False, positions: Optional[jax.Array] = None,
             inputs_segment_ids: Optional[jax.Array] = None,
             targets_segment_ids: Optional[jax.Array] = None) -> jax.Array:
    """Logits [B, T, V] (float32) of the next target token at every decoder position.

    inputs_BxS (the source tokens) give the cross-attention padding mask; packed rows
    give both sides' segment ids (and the targets' positions), so each target token
    attends only to its own example's earlier tokens and source. decode=True
    runs on the self-attention KV cache (model/attention.py; `init_cache` makes it):
    decoder_inputs are the next T tokens, at `positions` [B, T] (cache slot = position;
    every row at the same positions, as decoding from a fresh cache gives).
    """
    cfg = self.dec_cfg
    if positions is None:
      if decode:
        raise ValueError("decode=True needs the positions of the new tokens")
      positions = _positions(decoder_inputs_BxT)
    x = self._embed("decoder", decoder_inputs_BxT, positions, deterministic)
    packed = targets_segment_ids is not None
    if packed != (inputs_segment_ids is not None):
      raise ValueError("packed rows need both inputs_segment_ids and targets_segment_ids")
    if packed:
      self_mask = attention.make_attention_mask(targets_segment_ids)
      cross_mask = attention.make_attention_mask(targets_segment_ids, inputs_segment_ids)
    else:
      self_mask = None
      cross_mask = attention.make_attention_mask(kv_padding=inputs_BxS != 0)
    bias = None
    if positions_lib.attention_bias(cfg.position):  # rows share positions unless packed (no left padding)
      k_positions = positions
      if decode and self.has_variable("cache", "cache_length"):  # slot j holds position j
        k_positions = jnp.arange(self.get_variable("cache", "cache_length").shape[0])[None]
      bias = self._relative_bias("decoder", positions, k_positions, packed)
    if decode and not self.has_variable("cache", "cache_length"):  # the init call
      self.put_variable("cache", "cache_length", jnp.zeros(decoder_inputs_BxT.shape[1],
                                                            jnp.int8))
    x = self.decoder(x, self_mask, positions, bias=bias, encoded_BxSxD=encoded_BxSxD,
                     cross_mask=cross_mask, decode=decode, deterministic=deterministic)
    x = self.dropout(x, deterministic=deterministic)
    if cfg.tie_embeddings:
      if self.opts.scale_tied_logits:
        x = x * jnp.asarray(cfg.d_model ** -0.5, x.dtype)
      logits = self._embedder("decoder").attend(x)
    else:
      logits = self.lm_head(x)
    return logits.astype(jnp.float32)

  def __call__(self, inputs_BxS: jax.Array, decoder_inputs_BxT: Optional[jax.Array] = None,
               *, inputs_segment_ids: Optional[jax.Array] = None,
               inputs_positions: Optional[jax.Array] = None,
               targets_segment_ids: Optional[jax.Array] = None,
               targets_positions: Optional[jax.Array] = None,
               deterministic: bool = True) -> jax.Array:
    """Teacher-forced logits; decoder_inputs default to the inputs (shape-only, for init).

    The segment ids and positions are those of packed rows (data.packing), else None.
    """
    if decoder_inputs_BxT is None:
      decoder_inputs_BxT = inputs_BxS
    encoded = self.encode(inputs_BxS, segment_ids=inputs_segment_ids,
                          positions=inputs_positions, deterministic=deterministic)
    return self.decode(encoded, inputs_BxS, decoder_inputs_BxT, deterministic=deterministic,
                       positions=targets_positions, inputs_segment_ids=inputs_segment_ids,
                       targets_segment_ids=targets_segment_ids)


def init_cache(model: EncoderDecoder, batch_size: int, source_len: int, length: int) -> Any:
  """An empty decoder KV cache of `length` slots for `batch_size` rows (nothing computed).

  Besides each layer's keys/values it holds `cache_length` (a [length] placeholder whose
  shape tells the relative position bias how many slots there are).
  """
  d = model.cfg.d_model
  def init():
    return model.init(jax.random.PRNGKey(0), jnp.zeros((batch_size, source_len, d)),
                      jnp.ones((batch_size, source_len), jnp.int32),
                      jnp.zeros((batch_size, length), jnp.int32), decode=True,
                      positions=jnp.zeros((batch_size, length), jnp.int32),
                      method=EncoderDecoder.decode)
  shapes = jax.eval_shape(init)
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["cache"])
