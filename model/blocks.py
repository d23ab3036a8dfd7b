"""A stack of TransformerBlocks: the one loop over layers every family runs.

`block_stack(causal=True)` is a decoder stack, `causal=False` an encoder's; `decode=True`
uses each layer's KV cache (model/attention.py's docstring), `encoded_BxSxD` adds
cross-attention (the encoder-decoder's decoder). Scanned layers stack params and cache on
a leading layer axis.
"""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax

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
  decode: bool = False
  cross_attention: bool = False

  @nn.compact
  def __call__(self, x, mask, positions, encoded=None, cross_mask=None, bias=None):
    x = layers.TransformerBlock(
        self.cfg, cross_attention=self.cross_attention, decode=self.decode, name="block")(
            x, mask=mask, bias=bias, causal=self.causal, positions=positions,
            encoded_BxSxD=encoded, cross_mask=cross_mask, deterministic=self.deterministic)
    return x, None


def block_stack(cfg: layers.TransformerConfig, x_BxTxD, mask, positions, deterministic,
                parent_name: str = "layers", causal: bool = True,
                share_layers: bool = False, decode: bool = False,
                encoded_BxSxD: Optional[jax.Array] = None,
                cross_mask: Optional[jax.Array] = None, bias: Optional[jax.Array] = None):
  """Apply cfg.num_layers blocks, scanned (flat compile time) or unrolled.

  causal=False gives the bidirectional encoder; share_layers applies ONE block's params
  at every layer (ALBERT), so the param count does not grow with depth. decode=True uses
  each layer's KV cache (module docstring); encoded_BxSxD turns on cross-attention.
  bias (e.g. T5's relative positions, computed once per stack) is added to every layer's
  self-attention logits (broadcastable to [B, N, T, S]; S = the cache length in decode).
  """
  if decode and share_layers:
    raise ValueError("decode=True with shared layers would share one KV cache across "
                     "layers; decode an unshared stack")
  block_cls = _ScanBlock
  if cfg.remat != "none":
    block_cls = nn.remat(block_cls, policy=_REMAT_POLICIES[cfg.remat])
  kw = dict(deterministic=deterministic, causal=causal, decode=decode,
            cross_attention=encoded_BxSxD is not None)
  if share_layers:
    shared = block_cls(cfg, **kw, name=f"{parent_name}_shared")
    for _ in range(cfg.num_layers):
      x_BxTxD, _ = shared(x_BxTxD, mask, positions, encoded_BxSxD, cross_mask, bias)
    return x_BxTxD
  if cfg.scan_layers:
    scanned = nn.scan(
        block_cls, variable_axes={"params": 0, "cache": 0},
        split_rngs={"params": True, "dropout": True}, in_axes=(nn.broadcast,) * 5,
        length=cfg.num_layers, metadata_params={nn.PARTITION_NAME: "layers"})
    x_BxTxD, _ = scanned(cfg, **kw, name=parent_name)(
        x_BxTxD, mask, positions, encoded_BxSxD, cross_mask, bias)
    return x_BxTxD
  for i in range(cfg.num_layers):
    x_BxTxD, _ = block_cls(cfg, **kw, name=f"{parent_name}_{i}")(
        x_BxTxD, mask, positions, encoded_BxSxD, cross_mask, bias)
  return x_BxTxD
