"""BERT-family encoder: the shared TransformerBlock run bidirectionally, plus its heads.

BERT, RoBERTa and ALBERT are one `Encoder` with different configs (post-norm, GELU and
learned positions are config values; ALBERT adds `share_layers` and a factorized
`embed_dim`). ELECTRA is two encoders (generator, discriminator) over ONE embedding table.
Every stack goes through blocks.block_stack with causal=False, so attention is the one
kernel in model/attention.py with a padding/segment mask.
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

HEADS = ("mlm", "pair", "rtd")  # masked LM, NSP/SOP pair classifier, replaced-token detection


@dataclasses.dataclass(frozen=True)
class EncoderOptions:
  """What an encoder adds to TransformerConfig (hashable, so modules can hold it)."""
  embed_dim: int  # width of the token/position/type tables; < d_model projects (ALBERT)
  type_vocab_size: int = 2  # segment A / B
  share_layers: bool = False  # ALBERT: one block's params at every layer
  heads: tuple = HEADS  # the heads the module has (a converted RoBERTa has only mlm)
  pad_id: int = 0  # without segment_ids, keys holding this id are masked (RoBERTa: 1)

  @classmethod
  def from_config(cls, m: Any) -> "EncoderOptions":
    layers.check(0 <= m.embed_dim <= m.d_model, "model.embed_dim", m.embed_dim,
                 f"must be in [0, model.d_model={m.d_model}]",
                 "0 means d_model; less factorizes the embeddings (ALBERT)")
    embed_dim = m.embed_dim or m.d_model
    type_vocab = m.type_vocab_size
    if type_vocab <= 0:
      raise ValueError(f"model.type_vocab_size must be positive, got {type_vocab}")
    heads = tuple(h for h in m.encoder_heads.split(",") if h)
    unknown = [h for h in heads if h not in HEADS]
    if unknown or not heads:
      raise ValueError(f"model.encoder_heads={m.encoder_heads!r}: choose a comma-separated "
                       f"subset of {','.join(HEADS)}")
    return cls(embed_dim=embed_dim, type_vocab_size=type_vocab,
               share_layers=bool(m.share_layers), heads=heads,
               pad_id=m.pad_id)


class Embeddings(nn.Module):
  """Token + position + token-type embeddings of width embed_dim, normalised (BERT)."""
  cfg: layers.TransformerConfig
  opts: EncoderOptions

  def setup(self):
    # Embedder's tables at embed_dim: the same module the decoder uses, narrower.
    self.tokens = layers.Embedder(dataclasses.replace(self.cfg, d_model=self.opts.embed_dim))
    self.types = nn.Embed(
        self.opts.type_vocab_size, self.opts.embed_dim, dtype=self.cfg.dtype,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(self.cfg.init_std), (None, "embed")))
    self.norm = layers.Norm(self.cfg)

  def __call__(self, tokens_BxT, positions_BxT, types_BxT):
    return self.norm(self.tokens(tokens_BxT, positions_BxT) + self.types(types_BxT))

  def attend(self, x_BxTxE: jax.Array) -> jax.Array:
    return self.tokens.attend(x_BxTxE)


def _gelu_dense(features: int, cfg: layers.TransformerConfig, name: str, x: jax.Array):
  """Head transform: exact GELU when the blocks use it (BERT's hidden_act), else tanh."""
  return layers.gelu(layers.dense(features, ("embed", None), cfg, name)(x),
                     approximate=cfg.activation != "gelu_exact")


class Encoder(nn.Module):
  """tokens [B, T] -> dict of the requested heads' float32 logits (and 'hidden').

  mlm [B, T, V]: transform + norm + tied output with a bias; pair [B, 2]: tanh pooler on
  the first ([CLS]) token + linear; rtd [B, T]: replaced-token logit per position.
  `embeddings` lets ELECTRA's generator and discriminator share one table.
  """
  cfg: layers.TransformerConfig
  opts: EncoderOptions
  embeddings: Optional[Embeddings] = None

  @nn.compact
  def __call__(
      self,
      tokens_BxT: jax.Array,
      *,
      token_types: Optional[jax.Array] = None,
      positions: Optional[jax.Array] = None,
      segment_ids: Optional[jax.Array] = None,
      heads: Optional[tuple] = None,
      deterministic: bool = True,
  ) -> dict:
    cfg = self.cfg
    heads = self.opts.heads if heads is None else heads
    missing = [h for h in heads if h not in self.opts.heads]
    if missing:
      raise ValueError(f"encoder heads {missing} requested but model.encoder_heads="
                       f"{','.join(self.opts.heads)}; add them to model.encoder_heads")
    t = tokens_BxT.shape[1]
    if t > cfg.max_len and cfg.position == "learned":
      raise ValueError(f"sequence length {t} exceeds model.max_len={cfg.max_len}")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(t)[None], tokens_BxT.shape)
    if token_types is None:
      token_types = jnp.zeros_like(tokens_BxT)
    if segment_ids is None:  # no packing: one segment per row, padding excluded
      segment_ids = (tokens_BxT != self.opts.pad_id).astype(jnp.int32)
    embeddings = self.embeddings or Embeddings(cfg, self.opts, name="embed")
    x_BxTxD = embeddings(tokens_BxT, positions, token_types)
    if self.opts.embed_dim != cfg.d_model:
      x_BxTxD = layers.dense(cfg.d_model, ("embed", None), cfg, "embed_proj")(x_BxTxD)
    x_BxTxD = dropout_lib.Dropout(cfg.dropout)(x_BxTxD, deterministic=deterministic)
    mask = attention.make_attention_mask(segment_ids)
    x_BxTxD = blocks.block_stack(cfg, x_BxTxD, mask, positions, deterministic,
                                  causal=False, share_layers=self.opts.share_layers)
    if cfg.norm_placement == "pre":
      x_BxTxD = layers.Norm(cfg, name="final_norm")(x_BxTxD)
    out = {"hidden": x_BxTxD}
    if "mlm" in heads:
      h_BxTxE = _gelu_dense(self.opts.embed_dim, cfg, "mlm_transform", x_BxTxD)
      h_BxTxE = layers.Norm(cfg, name="mlm_norm")(h_BxTxE)
      bias_V = self.param("mlm_bias", nn.with_logical_partitioning(
          nn.initializers.zeros, ("vocab",)), (cfg.vocab_size,))
      out["mlm"] = (embeddings.attend(h_BxTxE) + bias_V).astype(jnp.float32)
    if "pair" in heads:
      pooled_BxD = jnp.tanh(layers.dense(cfg.d_model, ("embed", None), cfg, "pooler")(
          x_BxTxD[:, 0]))
      out["pair"] = layers.dense(2, ("embed", None), cfg, "pair_head")(
          pooled_BxD).astype(jnp.float32)
    if "rtd" in heads:
      h_BxTxD = _gelu_dense(cfg.d_model, cfg, "rtd_transform", x_BxTxD)
      out["rtd"] = layers.dense(1, ("embed", None), cfg, "rtd_head")(
          h_BxTxD)[..., 0].astype(jnp.float32)
    return out


def generator_config(cfg: layers.TransformerConfig, ratio: float) -> layers.TransformerConfig:
  """ELECTRA's generator: the discriminator's depth at `ratio` of its width and heads."""
  d_model = max(int(cfg.d_model * ratio), 1)
  heads = max(int(cfg.num_heads * ratio), 1)
  return dataclasses.replace(
      cfg, d_model=d_model, num_heads=heads, num_kv_heads=heads, head_dim=d_model // heads,
      mlp_dim=max(int(cfg.mlp_dim * ratio), 1))


class Electra(nn.Module):
  """Generator (MLM) and discriminator (RTD) encoders sharing token/position embeddings.

  `__call__` runs the discriminator (what init and fine-tuning see); `generate` runs the
  generator; the electra objective calls both with `method=`.
  """
  cfg: layers.TransformerConfig  # the discriminator
  opts: EncoderOptions
  generator_ratio: float = 0.25

  def setup(self):
    self.embed = Embeddings(self.cfg, self.opts)
    gen_cfg = generator_config(self.cfg, self.generator_ratio)
    self.generator = Encoder(gen_cfg, self.opts, embeddings=self.embed)
    self.discriminator = Encoder(self.cfg, self.opts, embeddings=self.embed)

  def __call__(self, tokens_BxT, **kwargs) -> dict:
    if self.is_initializing():  # create the generator's params too
      self.generator(tokens_BxT, heads=("mlm",), **kwargs)
    return self.discriminator(tokens_BxT, heads=("rtd",), **kwargs)

  def generate(self, tokens_BxT, **kwargs) -> dict:
    return self.generator(tokens_BxT, heads=("mlm",), **kwargs)
