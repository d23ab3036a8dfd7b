"""Hugging Face <-> attnlab: configs and weights of GPT-2, BERT, RoBERTa and T5, both ways.

A checkpoint directory holds `config.json` and `*.safetensors` (read with safetensors' numpy
API: no torch). Each family is one table of (HF tensor name, attnlab param paths, layout):
importing reads it left to right, exporting right to left, so the two cannot drift apart.
Layouts: "copy" (GPT-2's Conv1D stores [in, out] like a Flax kernel), "T" (torch Linear
[out, in]), "qkv" (GPT-2's fused c_attn: [.., 3D] split into query/key/value).

Whatever these models need beyond attnlab's defaults is a config value of the shared
modules (model.norm_eps, activation gelu|gelu_exact|geglu, use_bias, position_offset, pad_id,
encoder_heads, attention_scale), so a converted model is an ordinary `gpt`, `bert` or
`encoder_decoder` family model (T5 and T5.1.1: relative position bias, RMSNorm, relu or
gated-gelu, unscaled attention logits, tied or untied output layer).
"""
from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import Any, Optional

import numpy as np
from flax import traverse_util

FAMILIES = ("gpt2", "bert", "roberta", "t5")
ARCHITECTURES = {  # HF class -> (family, attnlab encoder heads)
    "GPT2LMHeadModel": ("gpt2", ""),
    "BertForPreTraining": ("bert", "mlm,pair"),
    "BertForMaskedLM": ("bert", "mlm"),
    "RobertaForMaskedLM": ("roberta", "mlm"),
    "T5ForConditionalGeneration": ("t5", ""),
}
_EXPORT_ARCH = {("gpt2", ""): "GPT2LMHeadModel", ("bert", "mlm,pair"): "BertForPreTraining",
                ("bert", "mlm"): "BertForMaskedLM", ("roberta", "mlm"): "RobertaForMaskedLM",
                ("t5", ""): "T5ForConditionalGeneration"}
_PREFIX = {"gpt2": "transformer.", "bert": "bert.", "roberta": "roberta.", "t5": ""}
# Tensors a checkpoint may hold that carry no weight of their own: causal-mask buffers,
# position-id buffers and copies of tied weights (ignored on import, not written on export).
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", "embeddings.position_ids",
                     "cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
                     "lm_head.decoder.weight", "lm_head.decoder.bias",
                     "encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
# Weights a checkpoint may hold that the converted class does not use, as transformers too
# drops them (with a warning): the hub's roberta-base ships a pooler RobertaForMaskedLM lacks,
# the original t5-small a relative bias for cross-attention that T5 never applies.
_UNUSED_SUFFIXES = ("pooler.dense.weight", "pooler.dense.bias",
                    "EncDecAttention.relative_attention_bias.weight")
_ACTIVATIONS = {"gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "gelu_fast": "gelu",
                "gelu": "gelu_exact", "relu": "relu"}
_HF_ACTIVATION = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu"}
_T5_FF = {"relu": "relu", "gated-gelu": "geglu"}  # T5Config.feed_forward_proj -> activation


@dataclasses.dataclass
class Converted:
  """An HF checkpoint in attnlab terms: `config.model` overrides and the params pytree."""
  family: str
  architecture: str
  model_overrides: dict
  params: dict
  dropped: tuple = ()  # checkpoint weights the class does not use (e.g. an unused pooler)


def read_config(directory: str) -> dict:
  path = os.path.join(directory, "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{directory} has no config.json: not a Hugging Face model directory "
                     "(save one with model.save_pretrained(DIR))")
  with open(path) as f:
    return json.load(f)


def detect(hf_config: dict, family: Optional[str] = None) -> tuple[str, str]:
  """(family, architecture) of an HF config; unsupported architectures are named."""
  archs = hf_config.get("architectures") or []
  supported = ", ".join(ARCHITECTURES)
  known = [a for a in archs if a in ARCHITECTURES]
  if not known:
    raise ValueError(f"unsupported architecture {archs or hf_config.get('model_type')!r}; "
                     f"attnlab converts {supported}")
  arch = known[0]
  if family is not None and family != ARCHITECTURES[arch][0]:
    raise ValueError(f"--family={family} but config.json says {arch} (family "
                     f"{ARCHITECTURES[arch][0]}); pass --family={ARCHITECTURES[arch][0]}")
  return ARCHITECTURES[arch][0], arch


def model_overrides(hf: dict, family: str, arch: str) -> dict:
  """`config.model` values that make attnlab's gpt/bert family compute this HF model."""
  if family == "gpt2":
    _require(hf, {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
                  "add_cross_attention": False})
    d, act = hf["n_embd"], _activation(hf.get("activation_function", "gelu_new"))
    return dict(family="gpt", vocab_size=hf["vocab_size"], d_model=d,
                num_layers=hf["n_layer"], num_heads=hf["n_head"], num_kv_heads=0,
                head_dim=d // hf["n_head"], mlp_dim=hf.get("n_inner") or 4 * d,
                max_len=hf["n_positions"], position="learned", position_offset=0,
                norm="layernorm", norm_placement="pre",
                norm_eps=hf.get("layer_norm_epsilon", 1e-5), activation=act, use_bias=True,
                tie_embeddings=hf.get("tie_word_embeddings", True))
  if family == "t5":
    return _t5_overrides(hf)
  _require(hf, {"position_embedding_type": "absolute", "is_decoder": False})
  act = _activation(hf.get("hidden_act", "gelu"))
  if act == "relu" or (family == "roberta" and act != "gelu_exact"):
    raise ValueError(f"{family} with hidden_act={hf.get('hidden_act')!r} is unsupported: the "
                     "masked-LM head's activation would differ from the blocks'")
  d, pad = hf["hidden_size"], hf.get("pad_token_id", 0) or 0
  offset = pad + 1 if family == "roberta" else 0
  return dict(family="bert", vocab_size=hf["vocab_size"], d_model=d,
              num_layers=hf["num_hidden_layers"], num_heads=hf["num_attention_heads"],
              num_kv_heads=0, head_dim=d // hf["num_attention_heads"],
              mlp_dim=hf["intermediate_size"],
              max_len=hf["max_position_embeddings"] - offset, position="learned",
              position_offset=offset, norm="layernorm", norm_placement="post",
              norm_eps=hf.get("layer_norm_eps", 1e-12), activation=act, use_bias=True,
              tie_embeddings=True, embed_dim=0, type_vocab_size=hf.get("type_vocab_size", 2),
              share_layers=False, encoder_heads=ARCHITECTURES[arch][1], pad_id=pad)


def _t5_overrides(hf: dict) -> dict:
  ff = hf.get("feed_forward_proj", "relu")
  if ff not in _T5_FF:
    raise ValueError(f"unsupported T5 feed_forward_proj={ff!r}; attnlab maps {sorted(_T5_FF)}")
  tied = hf.get("tie_word_embeddings", True)
  return dict(family="encoder_decoder", vocab_size=hf["vocab_size"], d_model=hf["d_model"],
              num_layers=hf["num_layers"],
              num_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
              num_heads=hf["num_heads"], num_kv_heads=0, head_dim=hf["d_kv"],
              mlp_dim=hf["d_ff"], max_len=hf.get("n_positions", 512), position="relative",
              relative_buckets=hf.get("relative_attention_num_buckets", 32),
              relative_max_distance=hf.get("relative_attention_max_distance", 128),
              norm="rmsnorm", norm_placement="pre", norm_eps=hf.get("layer_norm_epsilon", 1e-6),
              activation=_T5_FF[ff], use_bias=False, tie_embeddings=tied,
              share_embeddings=True, scale_embeddings=False, scale_tied_logits=tied,
              attention_scale=1.0, decoder_start_id=hf.get("decoder_start_token_id", 0) or 0)


def _activation(name: str) -> str:
  if name not in _ACTIVATIONS:
    raise ValueError(f"unsupported activation {name!r}; attnlab maps {sorted(_ACTIVATIONS)}")
  return _ACTIVATIONS[name]


def _require(hf: dict, expected: dict) -> None:
  bad = {k: hf[k] for k, v in expected.items() if k in hf and hf[k] != v}
  if bad:
    raise ValueError(f"unsupported config values {bad} (attnlab needs {expected})")


def hf_config(m: Any, family: str) -> dict:
  """The HF config.json of an attnlab `config.model` (the inverse of model_overrides)."""
  arch = _EXPORT_ARCH.get((family, m.encoder_heads if family in ("bert", "roberta") else ""))
  if arch is None:
    raise ValueError(f"cannot export a {family} model with encoder_heads="
                     f"{m.encoder_heads!r}; HF classes: {sorted(_EXPORT_ARCH.values())}")
  problems = _export_problems(m, family)
  if problems:
    raise ValueError(f"this model has no {arch} equivalent: " + "; ".join(problems))
  if family == "t5":
    return dict(architectures=[arch], model_type="t5", vocab_size=m.vocab_size,
                d_model=m.d_model, d_kv=m.head_dim or m.d_model // m.num_heads,
                d_ff=m.mlp_dim, num_layers=m.num_layers,
                num_decoder_layers=m.num_decoder_layers or m.num_layers,
                num_heads=m.num_heads, relative_attention_num_buckets=m.relative_buckets,
                relative_attention_max_distance=m.relative_max_distance,
                layer_norm_epsilon=m.norm_eps,
                feed_forward_proj={v: k for k, v in _T5_FF.items()}[m.activation],
                tie_word_embeddings=m.tie_embeddings, dropout_rate=0.0,
                is_encoder_decoder=True, pad_token_id=0, eos_token_id=1,
                decoder_start_token_id=m.decoder_start_id)
  act = _HF_ACTIVATION[m.activation]
  if family == "gpt2":
    return dict(architectures=[arch], model_type="gpt2", vocab_size=m.vocab_size,
                n_embd=m.d_model, n_layer=m.num_layers, n_head=m.num_heads,
                n_inner=None if m.mlp_dim == 4 * m.d_model else m.mlp_dim,
                n_positions=m.max_len, activation_function=act,
                layer_norm_epsilon=m.norm_eps, tie_word_embeddings=m.tie_embeddings,
                resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
  offset = m.position_offset
  return dict(architectures=[arch], model_type=family, vocab_size=m.vocab_size,
              hidden_size=m.d_model, num_hidden_layers=m.num_layers,
              num_attention_heads=m.num_heads, intermediate_size=m.mlp_dim,
              max_position_embeddings=m.max_len + offset, hidden_act=act,
              layer_norm_eps=m.norm_eps, type_vocab_size=m.type_vocab_size,
              pad_token_id=m.pad_id, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0)


def _export_problems(m: Any, family: str) -> list[str]:
  if family == "t5":
    checks = [(m.position == "relative", f"position={m.position} (needs relative)"),
              (m.norm == "rmsnorm", f"norm={m.norm} (needs rmsnorm)"),
              (m.norm_placement == "pre", "norm_placement=post (T5 is pre-norm)"),
              (not m.use_bias, "use_bias=True (T5 has no biases)"),
              (m.activation in _T5_FF.values(), f"activation={m.activation} (relu|geglu)"),
              (m.attention_scale == 1.0, "attention_scale != 1 (T5 does not scale logits)"),
              (m.num_kv_heads in (0, m.num_heads), f"num_kv_heads={m.num_kv_heads} (GQA)"),
              (m.share_embeddings and not m.scale_embeddings, "unshared/scaled embeddings"),
              (m.scale_tied_logits == m.tie_embeddings,
               "scale_tied_logits must equal tie_embeddings (T5 rescales tied logits)"),
              (m.decoder_start_id == 0, "decoder_start_id != 0 (T5 starts from pad 0)")]
    return [msg for ok, msg in checks if not ok]
  checks = [(m.position == "learned", f"position={m.position} (needs learned)"),
            (m.norm == "layernorm", f"norm={m.norm} (needs layernorm)"),
            (m.use_bias, "use_bias=False (needs biases)"),
            (m.activation in _HF_ACTIVATION, f"activation={m.activation}"),
            (m.num_kv_heads in (0, m.num_heads), f"num_kv_heads={m.num_kv_heads} (GQA)"),
            ((m.head_dim or m.d_model // m.num_heads) * m.num_heads == m.d_model,
             "head_dim * num_heads != d_model")]
  if family == "gpt2":
    checks += [(m.norm_placement == "pre", "norm_placement=post (GPT-2 is pre-norm)"),
               (m.position_offset == 0, "position_offset != 0")]
  else:
    checks += [(m.norm_placement == "post", "norm_placement=pre (BERT is post-norm)"),
               (not m.share_layers and m.embed_dim in (0, m.d_model),
                "ALBERT sharing/factorized embeddings"),
               (family != "roberta" or m.position_offset == m.pad_id + 1,
                "RoBERTa needs position_offset = pad_id + 1")]
  return [msg for ok, msg in checks if not ok]


def export_family(m: Any) -> str:
  """gpt -> gpt2; bert -> roberta when positions start past the padding id, else bert."""
  if m.family == "gpt":
    return "gpt2"
  if m.family == "bert":
    return "roberta" if m.position_offset > 0 else "bert"
  if m.family == "encoder_decoder":
    return "t5"
  raise ValueError(f"model.family={m.family!r} has no Hugging Face export; gpt, bert and "
                   "encoder_decoder do")


def _table(family: str, m: Any) -> list[tuple]:
  """(HF name, attnlab paths, layout) for every tensor of the family's HF class.

  m: the model config (or its overrides dict), for layer counts, heads and tying.
  """
  num_layers, tied = m["num_layers"], m["tie_embeddings"]
  heads = m["encoder_heads"] if family in ("bert", "roberta") else ""
  if family == "t5":
    return _t5_table(m)

  def norm(hf, ours):
    return [(f"{hf}.weight", [f"{ours}/layernorm/scale"], "copy"),
            (f"{hf}.bias", [f"{ours}/layernorm/bias"], "copy")]

  def dense(hf, ours, layout="T"):
    return [(f"{hf}.weight", [f"{ours}/kernel"], layout), (f"{hf}.bias", [f"{ours}/bias"], "copy")]

  rows = []
  if family == "gpt2":
    p = "transformer."
    rows += [(p + "wte.weight", ["embed/token/embedding"], "copy"),
             (p + "wpe.weight", ["embed/position/embedding"], "copy")]
    for i in range(num_layers):
      h, b = f"{p}h.{i}.", f"layers_{i}/block/"
      att = b + "self_attention/"
      rows += norm(h + "ln_1", b + "self_attention_norm")
      rows += [(h + "attn.c_attn.weight", [att + n + "/kernel" for n in ("query", "key", "value")],
                "qkv"),
               (h + "attn.c_attn.bias", [att + n + "/bias" for n in ("query", "key", "value")],
                "qkv")]
      rows += dense(h + "attn.c_proj", att + "out", "copy")
      rows += norm(h + "ln_2", b + "mlp_norm")
      rows += dense(h + "mlp.c_fc", b + "mlp/wi", "copy")
      rows += dense(h + "mlp.c_proj", b + "mlp/wo", "copy")
    rows += norm(p + "ln_f", "final_norm")
    if not tied:
      rows.append(("lm_head.weight", ["lm_head/kernel"], "T"))
    return rows
  p = _PREFIX[family]
  e = p + "embeddings."
  rows += [(e + "word_embeddings.weight", ["embed/tokens/token/embedding"], "copy"),
           (e + "position_embeddings.weight", ["embed/tokens/position/embedding"], "copy"),
           (e + "token_type_embeddings.weight", ["embed/types/embedding"], "copy")]
  rows += norm(e + "LayerNorm", "embed/norm")
  for i in range(num_layers):
    h, b = f"{p}encoder.layer.{i}.", f"layers_{i}/block/"
    for n in ("query", "key", "value"):
      rows += dense(f"{h}attention.self.{n}", f"{b}self_attention/{n}")
    rows += dense(h + "attention.output.dense", b + "self_attention/out")
    rows += norm(h + "attention.output.LayerNorm", b + "self_attention_norm")
    rows += dense(h + "intermediate.dense", b + "mlp/wi")
    rows += dense(h + "output.dense", b + "mlp/wo")
    rows += norm(h + "output.LayerNorm", b + "mlp_norm")
  if family == "roberta":
    rows += dense("lm_head.dense", "mlm_transform") + norm("lm_head.layer_norm", "mlm_norm")
    rows.append(("lm_head.bias", ["mlm_bias"], "copy"))
    return rows
  if "pair" in heads:
    rows += dense(p + "pooler.dense", "pooler") + dense("cls.seq_relationship", "pair_head")
  rows += dense("cls.predictions.transform.dense", "mlm_transform")
  rows += norm("cls.predictions.transform.LayerNorm", "mlm_norm")
  rows.append(("cls.predictions.bias", ["mlm_bias"], "copy"))
  return rows


def _t5_table(m: Any) -> list[tuple]:
  def attention(hf, ours):
    return [(f"{hf}.{a}.weight", [f"{ours}/{b}/kernel"], "T")
            for a, b in (("q", "query"), ("k", "key"), ("v", "value"), ("o", "out"))]

  def mlp(hf, ours):
    if m["activation"] == "geglu":  # gated-gelu: gelu(wi_0 x) * wi_1 x
      rows = [(f"{hf}.wi_0.weight", [f"{ours}/wi_gate/kernel"], "T"),
              (f"{hf}.wi_1.weight", [f"{ours}/wi/kernel"], "T")]
    else:
      rows = [(f"{hf}.wi.weight", [f"{ours}/wi/kernel"], "T")]
    return rows + [(f"{hf}.wo.weight", [f"{ours}/wo/kernel"], "T")]

  def norm(hf, ours):
    return [(f"{hf}.weight", [f"{ours}/rmsnorm/scale"], "copy")]

  rows = [("shared.weight", ["shared_embed/token/embedding"], "copy")]
  dec_layers = m["num_decoder_layers"] or m["num_layers"]
  for side, n in (("encoder", m["num_layers"]), ("decoder", dec_layers)):
    rows.append((f"{side}.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                 [f"{side}_relative_bias/relative_attention_bias"], "copy"))
    for i in range(n):
      h, b = f"{side}.block.{i}.layer.", f"{side}/layers_{i}/block/"
      rows += attention(h + "0.SelfAttention", b + "self_attention")
      rows += norm(h + "0.layer_norm", b + "self_attention_norm")
      ff = 1
      if side == "decoder":
        rows += attention(h + "1.EncDecAttention", b + "cross_attention")
        rows += norm(h + "1.layer_norm", b + "cross_attention_norm")
        ff = 2
      rows += mlp(f"{h}{ff}.DenseReluDense", b + "mlp")
      rows += norm(f"{h}{ff}.layer_norm", b + "mlp_norm")
    rows += norm(f"{side}.final_layer_norm", f"{side}/final_norm")
  if not m["tie_embeddings"]:
    rows.append(("lm_head.weight", ["lm_head/kernel"], "T"))
  return rows


def read_tensors(directory: str) -> dict[str, np.ndarray]:
  """Every tensor of the directory's *.safetensors files (sharded checkpoints too)."""
  from safetensors import SafetensorError
  from safetensors.numpy import load_file
  files = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
  if not files:
    raise ValueError(f"{directory} has no *.safetensors file (save the model with "
                     "save_pretrained(DIR, safe_serialization=True))")
  tensors = {}
  for path in files:
    try:
      tensors.update(load_file(path))
    except TypeError:  # numpy has no bfloat16 unless ml_dtypes registered it: read raw
      tensors.update(_load_with_bfloat16(path))
    except SafetensorError as e:
      raise _unreadable(path, e) from None
  return {k: v.astype(np.float32) if v.dtype.name in ("bfloat16", "float16") else v
          for k, v in tensors.items()}


def _load_with_bfloat16(path: str) -> dict[str, np.ndarray]:
  """A safetensors file read from its documented layout (u64 header size, JSON header,
  raw little-endian data), bfloat16 included; values are widened to float32."""
  import ml_dtypes
  dtypes = {"F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
            "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
  with open(path, "rb") as f:
    raw = f.read()
  try:
    size = int(np.frombuffer(raw[:8], dtype="<u8")[0])
    header = json.loads(raw[8:8 + size])
  except (IndexError, ValueError) as e:  # a short file; a cut or garbled JSON header
    raise _unreadable(path, e) from None
  data = raw[8 + size:]
  out = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["data_offsets"][1] > len(data):
      raise _unreadable(path, f"tensor {name} ends at byte {info['data_offsets'][1]} of "
                              f"{len(data)} data bytes")
    if info["dtype"] not in dtypes:
      raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
    start, end = info["data_offsets"]
    value = np.frombuffer(data[start:end], dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    out[name] = value.astype(np.float32) if info["dtype"] in ("BF16", "F16") else value
  return out


def _unreadable(path: str, reason: Any) -> ValueError:
  return ValueError(f"{path} ({os.path.getsize(path)} bytes) is not a readable safetensors "
                    f"file: {reason}; it is truncated or corrupt, so download or save it "
                    "again")


def _canonical(name: str, family: str, expected: set) -> str:
  """HF names with or without the base-model prefix (the hub's gpt2 has none)."""
  if name in expected:
    return name
  prefixed = _PREFIX[family] + name
  return prefixed if prefixed in expected else name


def read_hf(directory: str, family: Optional[str] = None) -> Converted:
  """Config overrides and params of the HF model in `directory` (config.json + safetensors).

  Missing, unexpected or wrongly shaped tensors raise ValueError naming every one of them.
  """
  hf = read_config(directory)
  family, arch = detect(hf, family)
  overrides = model_overrides(hf, family, arch)
  tied = overrides["tie_embeddings"]
  raw = read_tensors(directory)
  if family == "bert" and any(n.endswith("cls.seq_relationship.weight") for n in raw):
    # e.g. the hub's bert-base-uncased: config says BertForMaskedLM, weights hold NSP too
    arch, overrides["encoder_heads"] = "BertForPreTraining", "mlm,pair"
  rows = _table(family, overrides)
  expected = {r[0] for r in rows}
  tensors = {}
  for name, value in raw.items():
    tensors[_canonical(name, family, expected)] = value
  missing = sorted(expected - set(tensors))
  extra = set(tensors) - expected
  dropped = tuple(sorted(n for n in extra if n.endswith(_UNUSED_SUFFIXES)))
  unexpected = sorted(n for n in extra if not n.endswith(_IGNORED_SUFFIXES + _UNUSED_SUFFIXES)
                      and not (tied and n == "lm_head.weight"))
  if missing or unexpected:
    raise ValueError(
        f"{directory} does not match {arch}({family}, {overrides['num_layers']} layers): "
        + (f"missing weights {missing}" if missing else "")
        + ("; " if missing and unexpected else "")
        + (f"unexpected weights {unexpected}" if unexpected else "")
        + "; check that config.json and the safetensors files come from one checkpoint")
  flat = {}
  for name, paths, layout in rows:
    value = np.asarray(tensors[name], dtype=np.float32)
    if layout == "T":
      value = value.T
    parts = np.split(value, 3, axis=-1) if layout == "qkv" else [value]
    for path, part in zip(paths, parts):
      flat[path] = np.ascontiguousarray(part)
  return Converted(family=family, architecture=arch, model_overrides=overrides,
                   params=_unflatten(flat), dropped=dropped)


def check_shapes(params: dict, reference: dict, source: str) -> None:
  """Every converted param has the shape the attnlab model expects (names each mismatch)."""
  got, want = _flatten(params), _flatten(reference)
  bad = [f"{k}: {got[k].shape} != {tuple(want[k].shape)}" for k in sorted(want)
         if k in got and tuple(got[k].shape) != tuple(want[k].shape)]
  missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
  if bad or missing or extra:
    raise ValueError(f"{source}: params do not fit the attnlab model: shapes {bad}, "
                     f"missing {missing}, unexpected {extra}")


def to_hf(m: Any, params: dict, family: Optional[str] = None) -> tuple[dict, dict]:
  """(HF config.json dict, {HF name: float32 array}) of attnlab `config.model` + params."""
  family = family or export_family(m)
  config = hf_config(m, family)
  flat = _flatten(_unscan(params, m))
  tensors = {}
  for name, paths, layout in _table(family, m):
    parts = [np.asarray(flat[p], dtype=np.float32) for p in paths]
    value = np.concatenate(parts, axis=-1) if layout == "qkv" else parts[0]
    tensors[name] = np.ascontiguousarray(value.T if layout == "T" else value)
  return config, tensors


def write_hf(directory: str, config: dict, tensors: dict) -> None:
  """config.json + model.safetensors, as transformers' save_pretrained lays them out."""
  from safetensors.numpy import save_file
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, "config.json"), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)
  save_file(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})


def _unscan(params: dict, m: Any) -> dict:
  """Scanned layers ('layers' with a leading layer axis) as layers_0..layers_{L-1}, in the
  model and in an encoder-decoder's encoder/decoder stacks."""
  if not m.scan_layers:
    return params

  def split(tree: dict) -> dict:
    if "layers" not in tree:
      return tree
    tree = dict(tree)
    stacked = tree.pop("layers")
    count = len(np.asarray(next(iter(_flatten(stacked).values()))))
    for i in range(count):
      tree[f"layers_{i}"] = _map(lambda x, i=i: np.asarray(x)[i], stacked)
    return tree

  params = split(dict(params))
  for side in ("encoder", "decoder"):
    if side in params:
      params[side] = split(params[side])
  return params


def _map(fn, tree):
  return {k: _map(fn, v) for k, v in tree.items()} if isinstance(tree, dict) else fn(tree)


def _flatten(tree: Any) -> dict:
  return traverse_util.flatten_dict(tree, sep="/")


def _unflatten(flat: dict) -> dict:
  return traverse_util.unflatten_dict(flat, sep="/")
