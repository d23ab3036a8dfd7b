"""GPT-style decoder-only language model: embed, causal TransformerBlocks, logits."""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from model import attention
from model import layers

_REMAT_POLICIES = {
    "full": None,
    "dots_saveable": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class _ScanBlock(nn.Module):
  """Adapts TransformerBlock to nn.scan's (carry, x) -> (carry, y) signature."""
  cfg: layers.TransformerConfig
  deterministic: bool = True
  causal: bool = True

  @nn.compact
  def __call__(self, x, mask, positions):
    x = layers.TransformerBlock(self.cfg, name="block")(
        x, mask=mask, causal=self.causal, positions=positions,
        deterministic=self.deterministic)
    return x, None


def block_stack(cfg: layers.TransformerConfig, x_BxTxD, mask, positions, deterministic,
                parent_name: str = "layers", causal: bool = True,
                share_layers: bool = False):
  """Apply cfg.num_layers blocks, scanned (flat compile time) or unrolled.

  causal=False gives the bidirectional encoder; share_layers applies ONE block's params
  at every layer (ALBERT), so the param count does not grow with depth.
  """
  block_cls = _ScanBlock
  if cfg.remat != "none":
    block_cls = nn.remat(block_cls, policy=_REMAT_POLICIES[cfg.remat])
  if share_layers:
    shared = block_cls(cfg, deterministic, causal, name=f"{parent_name}_shared")
    for _ in range(cfg.num_layers):
      x_BxTxD, _ = shared(x_BxTxD, mask, positions)
    return x_BxTxD
  if cfg.scan_layers:
    scanned = nn.scan(
        block_cls, variable_axes={"params": 0}, split_rngs={"params": True, "dropout": True},
        in_axes=(nn.broadcast, nn.broadcast), length=cfg.num_layers,
        metadata_params={nn.PARTITION_NAME: "layers"})
    x_BxTxD, _ = scanned(cfg, deterministic, causal, name=parent_name)(x_BxTxD, mask, positions)
    return x_BxTxD
  for i in range(cfg.num_layers):
    x_BxTxD, _ = block_cls(cfg, deterministic, causal, name=f"{parent_name}_{i}")(
        x_BxTxD, mask, positions)
  return x_BxTxD


class Decoder(nn.Module):
  """Causal LM. tokens [B, T] -> logits [B, T, vocab] (float32)."""
  cfg: layers.TransformerConfig

  @nn.compact
  def __call__(
      self,
      tokens_BxT: jax.Array,
      *,
      positions: Optional[jax.Array] = None,
      segment_ids: Optional[jax.Array] = None,
      deterministic: bool = True,
      return_hidden: bool = False,
  ) -> jax.Array:
    """return_hidden gives the final hidden states [B, T, D] instead of logits (heads)."""
    cfg = self.cfg
    t = tokens_BxT.shape[1]
    if t > cfg.max_len and cfg.position == "learned":
      raise ValueError(
          f"sequence length {t} exceeds model.max_len={cfg.max_len} learned positions; "
          "raise model.max_len or shorten data.seq_len")
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(t)[None], tokens_BxT.shape)
    embedder = layers.Embedder(cfg, name="embed")
    x_BxTxD = embedder(tokens_BxT, positions)
    x_BxTxD = nn.Dropout(cfg.dropout)(x_BxTxD, deterministic=deterministic)
    x_BxTxD = nn.with_logical_constraint(x_BxTxD, ("batch", "length", "embed"))
    mask = None
    if segment_ids is not None:
      mask = attention.make_attention_mask(segment_ids)
    x_BxTxD = block_stack(cfg, x_BxTxD, mask, positions, deterministic)
    if cfg.norm_placement == "pre":  # post-norm blocks already end in a norm
      x_BxTxD = layers.Norm(cfg, name="final_norm")(x_BxTxD)
    if return_hidden:
      return x_BxTxD
    if cfg.tie_embeddings:
      logits_BxTxV = embedder.attend(x_BxTxD)
    else:
      logits_BxTxV = layers.dense(cfg.vocab_size, ("embed", "vocab"), cfg, "lm_head")(
          x_BxTxD)
    return logits_BxTxV.astype(jnp.float32)
