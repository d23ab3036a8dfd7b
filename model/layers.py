"""Building blocks shared by every Transformer family: embeddings, norms, MLP, the block.

The encoder, decoder and encoder-decoder stacks reuse `TransformerBlock` unchanged; they
differ only in the masks they pass and whether cross-attention is on.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from model import attention
from model import dropout as dropout_lib
from model import matmul
from model import positions as positions_lib

POSITIONS = positions_lib.TYPES  # what each gives a stack: model/positions.py
NORMS = ("layernorm", "rmsnorm")
NORM_PLACEMENTS = ("pre", "post")
ACTIVATIONS = ("gelu", "gelu_exact", "relu", "swiglu", "geglu")
REMAT_POLICIES = ("none", "full", "dots_saveable")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Hyperparameters of a Transformer stack (hashable, so Linen modules can hold it)."""
  vocab_size: int
  d_model: int = 128
  num_layers: int = 2
  num_heads: int = 4
  num_kv_heads: int = 4
  head_dim: int = 32
  mlp_dim: int = 512
  max_len: int = 256
  position: str = "learned"
  rope_base: float = 10000.0
  position_offset: int = 0  # learned: row of position 0 (RoBERTa: padding_idx + 1)
  attention_scale: float = 0.0  # attention logits scale; 0: 1/sqrt(head_dim) (T5: 1.0)
  norm: str = "layernorm"
  norm_placement: str = "pre"
  norm_eps: float = 1e-5
  activation: str = "gelu"
  use_bias: bool = False
  tie_embeddings: bool = True
  dropout: float = 0.0
  mlp_dropout: float = 0.0
  attention_dropout: float = 0.0
  attention_impl: str = "xla"
  scan_layers: bool = False
  remat: str = "none"
  dtype: Any = jnp.float32
  init_std: float = 0.02

  @classmethod
  def from_config(cls, m: Any) -> "TransformerConfig":
    """Validate `config.model` and fill derived values (head_dim, num_kv_heads)."""
    _check_choice("model.position", m.position, POSITIONS)
    _check_choice("model.norm", m.norm, NORMS)
    _check_choice("model.norm_placement", m.norm_placement, NORM_PLACEMENTS)
    _check_choice("model.activation", m.activation, ACTIVATIONS)
    _check_choice("model.remat", m.remat, REMAT_POLICIES)
    _check_choice("model.dtype", m.dtype, tuple(DTYPES))
    _check_choice("model.attention_impl", m.attention_impl, attention.IMPLEMENTATIONS)
    check_shared_keys(m)
    for key in ("num_heads", "mlp_dim"):
      check(m[key] >= 1, f"model.{key}", m[key], "must be a positive integer", _SIZE_FIX)
    for key, zero in (("num_kv_heads", "num_heads (MHA)"), ("head_dim", "d_model // num_heads")):
      check(m[key] >= 0, f"model.{key}", m[key], "must be >= 0", f"0 means {zero}")
    check(0 <= m.attention_dropout < 1, "model.attention_dropout", m.attention_dropout,
          "must be in [0, 1)", "0 disables it")
    mlp_dropout = m.dropout if m.mlp_dropout is None else m.mlp_dropout
    check(0 <= mlp_dropout < 1, "model.mlp_dropout", m.mlp_dropout, "must be in [0, 1)",
          "0 disables it; None takes model.dropout")
    if m.d_model % m.num_heads and not m.head_dim:
      raise ValueError(
          f"model.num_heads={m.num_heads} must divide model.d_model={m.d_model} "
          "(or set model.head_dim explicitly)")
    kv_heads = m.num_kv_heads or m.num_heads
    if m.num_heads % kv_heads:
      raise ValueError(
          f"model.num_heads={m.num_heads} must be a multiple of "
          f"model.num_kv_heads={kv_heads} (GQA groups query heads per kv head)")
    head_dim = m.head_dim or m.d_model // m.num_heads
    if positions_lib.rotary(m.position) and head_dim % 2:
      raise ValueError(f"position='rope' needs an even head_dim, got {head_dim}")
    if m.position_offset < 0:
      raise ValueError(f"model.position_offset must be >= 0, got {m.position_offset}")
    if m.attention_impl != "xla" and m.attention_dropout > 0:
      raise ValueError("model.attention_dropout > 0 needs model.attention_impl='xla'")
    return cls(
        vocab_size=m.vocab_size, d_model=m.d_model, num_layers=m.num_layers,
        num_heads=m.num_heads, num_kv_heads=kv_heads, head_dim=head_dim,
        mlp_dim=m.mlp_dim, max_len=m.max_len, position=m.position,
        rope_base=m.rope_base, position_offset=m.position_offset,
        attention_scale=m.attention_scale, norm=m.norm,
        norm_placement=m.norm_placement,
        norm_eps=m.norm_eps, activation=m.activation, use_bias=m.use_bias,
        tie_embeddings=m.tie_embeddings, dropout=m.dropout, mlp_dropout=mlp_dropout,
        attention_dropout=m.attention_dropout, attention_impl=m.attention_impl,
        scan_layers=m.scan_layers, remat=m.remat, dtype=DTYPES[m.dtype],
        init_std=m.init_std)


def _check_choice(name: str, value: Any, choices: tuple) -> None:
  if value not in choices:
    raise ValueError(f"unknown {name}={value!r}; choose one of {', '.join(choices)}")


_SIZE_FIX = "set a positive size (experiments/configs/base.py describes each model.* key)"


def check(ok: bool, key: str, value: Any, problem: str, fix: str) -> None:
  """ValueError "<key>=<value> <problem>; <fix>" unless ok.

  Write ok as the valid range (`0 <= x < 1`), so that NaN fails it.
  """
  if not ok:
    raise ValueError(f"{key}={value!r} {problem}; {fix}")


def check_shared_keys(m: Any) -> None:
  """The `config.model` keys every family reads (Transformer and LSTM): sizes, dropout."""
  check(m.vocab_size >= 1, "model.vocab_size", m.vocab_size, "must be a positive integer",
        "set 0 to take it from the tokenizer")
  for key in ("d_model", "num_layers", "max_len"):
    check(m[key] >= 1, f"model.{key}", m[key], "must be a positive integer", _SIZE_FIX)
  check(0 <= m.dropout < 1, "model.dropout", m.dropout, "must be in [0, 1)", "0 disables it")


def dense(features: int, axes: tuple, cfg: TransformerConfig, name: str,
          std: Optional[float] = None) -> nn.Dense:
  """A Dense layer whose kernel/bias carry logical axis names."""
  return nn.Dense(
      features, use_bias=cfg.use_bias, dtype=cfg.dtype, name=name,
      dot_general=matmul.dot_general,
      kernel_init=nn.with_logical_partitioning(
          nn.initializers.normal(cfg.init_std if std is None else std), axes),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros, axes[1:]))


class Norm(nn.Module):
  """LayerNorm or RMSNorm, computed in float32."""
  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    scale_init = nn.with_logical_partitioning(nn.initializers.ones, ("norm",))
    bias_init = nn.with_logical_partitioning(nn.initializers.zeros, ("norm",))
    if self.cfg.norm == "rmsnorm":
      norm = nn.RMSNorm(epsilon=self.cfg.norm_eps, dtype=self.cfg.dtype,
                        scale_init=scale_init, name="rmsnorm")
    else:
      norm = nn.LayerNorm(epsilon=self.cfg.norm_eps, dtype=self.cfg.dtype,
                          use_bias=self.cfg.use_bias, scale_init=scale_init,
                          bias_init=bias_init, name="layernorm")
    return norm(x)


def gelu(x: jax.Array, approximate: bool) -> jax.Array:
  """GELU: the tanh approximation, or exact as 0.5 x (1 + erf(x / sqrt 2)). jax.nn.gelu's
  exact form uses erfc, which XLA:CPU computes with exp and selects in several fusions;
  erf is one polynomial (the two agree to ~1e-6; experiments/bench/RESULTS.md)."""
  if approximate:
    return nn.gelu(x, approximate=approximate)
  return 0.5 * x * (1.0 + jax.lax.erf(x * np.sqrt(0.5).astype(x.dtype)))


class Mlp(nn.Module):
  """Position-wise feed-forward: gelu (tanh approximation, GPT-2) | gelu_exact (erf, BERT,
  PyTorch's nn.GELU) | relu | swiglu / geglu (gated by silu / tanh-GELU, Shazeer 2020;
  geglu is T5.1.1's gated-gelu)."""
  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x_BxTxD: jax.Array, deterministic: bool = True) -> jax.Array:
    cfg = self.cfg
    h_BxTxF = dense(cfg.mlp_dim, ("embed", "mlp"), cfg, "wi")(x_BxTxD)
    if cfg.activation in ("swiglu", "geglu"):
      gate = dense(cfg.mlp_dim, ("embed", "mlp"), cfg, "wi_gate")(x_BxTxD)
      act = nn.silu if cfg.activation == "swiglu" else partial(gelu, approximate=True)
      h_BxTxF = act(gate) * h_BxTxF
    elif cfg.activation == "relu":
      h_BxTxF = nn.relu(h_BxTxF)
    else:
      h_BxTxF = gelu(h_BxTxF, approximate=cfg.activation == "gelu")
    h_BxTxF = dropout_lib.Dropout(cfg.mlp_dropout)(h_BxTxF, deterministic=deterministic)
    return dense(x_BxTxD.shape[-1], ("mlp", "embed"), cfg, "wo",
                 std=_out_std(cfg))(h_BxTxF)


def _out_std(cfg: TransformerConfig) -> float:
  """GPT-2's scaled init of residual output projections: std / sqrt(2 * layers)."""
  return cfg.init_std / (2 * cfg.num_layers) ** 0.5


class TransformerBlock(nn.Module):
  """Self-attention (+ optional cross-attention) + MLP, with pre- or post-norm residuals.

  `causal` and the masks come from the caller, so the same block serves the
  bidirectional encoder, the causal decoder and the encoder-decoder's decoder.
  decode=True: self-attention uses its KV cache (model/attention.py docstring).
  """
  cfg: TransformerConfig
  cross_attention: bool = False
  decode: bool = False

  def _attention(self, name: str, rope: bool) -> attention.MultiHeadAttention:
    cfg = self.cfg
    return attention.MultiHeadAttention(
        num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, head_dim=cfg.head_dim,
        use_bias=cfg.use_bias, rope=rope, rope_base=cfg.rope_base,
        attention_dropout=cfg.attention_dropout, implementation=cfg.attention_impl,
        init_std=cfg.init_std, out_init_std=_out_std(cfg), dtype=cfg.dtype,
        decode=self.decode, scale=cfg.attention_scale or None, name=name)

  def _residual(self, x, sublayer, name, deterministic):
    """x + dropout(sublayer(norm(x))) for pre-norm; norm(x + dropout(sublayer(x))) post."""
    pre = self.cfg.norm_placement == "pre"
    h = sublayer(Norm(self.cfg, name=f"{name}_norm")(x) if pre else x)
    x = x + dropout_lib.Dropout(self.cfg.dropout)(h, deterministic=deterministic)
    return x if pre else Norm(self.cfg, name=f"{name}_norm")(x)

  @nn.compact
  def __call__(
      self,
      x_BxTxD: jax.Array,
      *,
      mask: Optional[jax.Array] = None,
      bias: Optional[jax.Array] = None,
      causal: bool = False,
      positions: Optional[jax.Array] = None,
      encoded_BxSxD: Optional[jax.Array] = None,
      cross_mask: Optional[jax.Array] = None,
      deterministic: bool = True,
  ) -> jax.Array:
    rope = positions_lib.rotary(self.cfg.position)
    x = self._residual(
        x_BxTxD,
        lambda h: self._attention("self_attention", rope)(
            h, mask=mask, bias=bias, causal=causal, q_positions=positions,
            deterministic=deterministic),
        "self_attention", deterministic)
    if self.cross_attention:
      x = self._residual(
          x,
          lambda h: self._attention("cross_attention", False)(
              h, encoded_BxSxD, mask=cross_mask, deterministic=deterministic),
          "cross_attention", deterministic)
    x = self._residual(
        x, lambda h: Mlp(self.cfg, name="mlp")(h, deterministic), "mlp", deterministic)
    return nn.with_logical_constraint(x, ("batch", "length", "embed"))


class Embedder(nn.Module):
  """Token embedding (+ learned/sinusoidal positions) and the tied output projection."""
  cfg: TransformerConfig

  def setup(self):
    cfg = self.cfg
    self.token = nn.Embed(
        cfg.vocab_size, cfg.d_model, dtype=cfg.dtype,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(cfg.init_std), ("vocab", "embed")))
    if cfg.position == "learned":
      self.position = nn.Embed(
          cfg.max_len + cfg.position_offset, cfg.d_model, dtype=cfg.dtype,
          embedding_init=nn.with_logical_partitioning(
              nn.initializers.normal(cfg.init_std), (None, "embed")))

  def __call__(self, tokens_BxT: jax.Array, positions_BxT: jax.Array) -> jax.Array:
    x = self.token(tokens_BxT)
    if self.cfg.position == "learned":
      x = x + self.position(positions_BxT + self.cfg.position_offset)
    elif self.cfg.position == "sinusoidal":
      # At a learned table's init scale (entry RMS = init_std): unit-size sinusoids drown
      # init_std-size token embeddings (measured: +1.6 nats in the positional sweep).
      table = positions_lib.sinusoidal(positions_BxT, self.cfg.d_model)
      x = x + (table * (self.cfg.init_std * 2 ** 0.5)).astype(x.dtype)
    return x

  def attend(self, x_BxTxD: jax.Array) -> jax.Array:
    """Logits from the transposed token embedding (tied output layer); below float32,
    float32 logits from bf16 operands (model/matmul.py)."""
    if not matmul.below_float32(self.cfg.dtype):
      return self.token.attend(x_BxTxD)
    table_VxD = self.token.embedding.astype(self.cfg.dtype)
    return matmul.einsum("...d,vd->...v", x_BxTxD.astype(self.cfg.dtype), table_VxD,
                         jnp.float32)
