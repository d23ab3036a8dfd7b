"""The encoder-decoder: padding, causality, T5 relative buckets, KV-cache decoding."""
import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model as model_lib
from experiments.configs import base
from experiments.configs import encoder_decoder_base
from model import encoder_decoder as ed
from model import layers
from model import positions

SRC = jnp.array([[5, 6, 7, 8, 0, 0], [9, 3, 4, 0, 0, 0]])
TGT = jnp.array([[2, 5, 6, 7, 8, 1], [2, 4, 3, 9, 1, 0]])


def build(**overrides):
  m = encoder_decoder_base.get_config().model
  m.update(dict(vocab_size=20, d_model=32, num_layers=2, num_heads=4, mlp_dim=64, max_len=16))
  m.update(overrides)
  module = model_lib.build(m)
  params = nn.meta.unbox(module.init(jax.random.PRNGKey(0), SRC, TGT)["params"])
  return module, params


FLAVOURS = {
    "t5_relative": {},
    "t5_rope": dict(position="rope", num_decoder_layers=1, scale_tied_logits=True),
    "original": dict(norm_placement="post", norm="layernorm", position="sinusoidal",
                     scale_embeddings=True, use_bias=True, share_embeddings=False,
                     tie_embeddings=False),
}


@pytest.fixture(scope="module", params=sorted(FLAVOURS))
def built(request):
  return build(**FLAVOURS[request.param])


def test_changing_padded_source_tokens_changes_nothing(built):
  module, params = built
  logits = module.apply({"params": params}, SRC, TGT)
  # Padding is id 0 (that is how the mask is made), so vary what sits at the padded
  # slots after embedding: junk encoder outputs there must not reach the decoder.
  encoded = module.apply({"params": params}, SRC, method=module.encode)
  junk = jnp.where((SRC == 0)[..., None], 1e3 * jnp.ones_like(encoded), encoded)
  via_junk = module.apply({"params": params}, junk, SRC, TGT, method=module.decode)
  np.testing.assert_allclose(via_junk, logits, atol=1e-5)
  # Longer padding (more pad columns) changes nothing either.
  longer = jnp.pad(SRC, ((0, 0), (0, 3)))
  np.testing.assert_allclose(module.apply({"params": params}, longer, TGT), logits, atol=1e-5)
  # Real source tokens do matter.
  other = SRC.at[0, 0].set(11)
  assert not np.allclose(module.apply({"params": params}, other, TGT)[0], logits[0], atol=1e-4)


def test_decoder_is_causal_inside_the_encoder_decoder(built):
  module, params = built
  logits = module.apply({"params": params}, SRC, TGT)
  changed = TGT.at[:, 3:].set(17)
  after = module.apply({"params": params}, SRC, changed)
  np.testing.assert_allclose(after[:, :3], logits[:, :3], atol=1e-5)
  assert not np.allclose(after[:, 3:], logits[:, 3:], atol=1e-4)


def test_kv_cache_decoding_equals_the_full_forward_pass(built):
  module, params = built
  full = module.apply({"params": params}, SRC, TGT)
  encoded = module.apply({"params": params}, SRC, method=module.encode)
  cache = ed.init_cache(module, 2, SRC.shape[1], 8)
  steps = []
  for i in range(TGT.shape[1]):
    logits, variables = module.apply(
        {"params": params, "cache": cache}, encoded, SRC, TGT[:, i:i + 1], decode=True,
        positions=jnp.full((2, 1), i), method=module.decode, mutable=["cache"])
    cache = variables["cache"]
    steps.append(logits[:, 0])
  np.testing.assert_allclose(jnp.stack(steps, 1), full, atol=1e-5)


def pack_two_rows():
  """SRC/TGT's two examples in ONE packed row (as data.packing makes), plus padding."""
  src_lens, tgt_lens = (4, 3), (6, 5)
  def pack(rows, lens, width):
    tokens = np.zeros((1, width), np.int32)
    segments, positions = np.zeros_like(tokens), np.zeros_like(tokens)
    start = 0
    for i, (row, n) in enumerate(zip(rows, lens)):
      tokens[0, start:start + n] = np.asarray(row)[:n]
      segments[0, start:start + n] = i + 1
      positions[0, start:start + n] = np.arange(n)
      start += n
    return jnp.asarray(tokens), jnp.asarray(segments), jnp.asarray(positions)
  return pack(SRC, src_lens, 8), pack(TGT, tgt_lens, 12), tgt_lens


def test_a_packed_row_computes_what_its_examples_compute_alone(built):
  module, params = built
  alone = module.apply({"params": params}, SRC, TGT)
  (src, src_seg, src_pos), (tgt, tgt_seg, tgt_pos), (n0, n1) = pack_two_rows()
  packed = module.apply({"params": params}, src, tgt, inputs_segment_ids=src_seg,
                        inputs_positions=src_pos, targets_segment_ids=tgt_seg,
                        targets_positions=tgt_pos)
  np.testing.assert_allclose(packed[0, :n0], alone[0, :n0], atol=1e-5)
  np.testing.assert_allclose(packed[0, n0:n0 + n1], alone[1, :n1], atol=1e-5)
  # Without the segment ids the two examples see each other: the check can fail.
  mixed = module.apply({"params": params}, src, tgt)
  assert not np.allclose(mixed[0, n0:n0 + n1], alone[1, :n1], atol=1e-4)


def test_shift_right_restarts_every_packed_example():
  targets = jnp.array([[5, 6, 1, 7, 1, 0]])
  positions = jnp.array([[0, 1, 2, 0, 1, 0]])
  np.testing.assert_array_equal(ed.shift_right(targets, 2, positions), [[2, 5, 6, 2, 7, 2]])
  np.testing.assert_array_equal(ed.shift_right(targets, 2), [[2, 5, 6, 1, 7, 1]])


def hf_t5_bucket(relative_position, bidirectional, num_buckets=32, max_distance=128):
  """A scalar transcription of Hugging Face's T5Attention._relative_position_bucket."""
  ret = 0
  if bidirectional:
    num_buckets //= 2
    ret += num_buckets if relative_position > 0 else 0
    relative_position = abs(relative_position)
  else:
    relative_position = -min(relative_position, 0)
  max_exact = num_buckets // 2
  if relative_position < max_exact:
    return ret + relative_position
  large = max_exact + int(math.log(relative_position / max_exact)
                          / math.log(max_distance / max_exact) * (num_buckets - max_exact))
  return ret + min(large, num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("buckets,max_distance", [(32, 128), (8, 20)])
def test_relative_buckets_match_t5(bidirectional, buckets, max_distance):
  rel = np.arange(-300, 301)
  got = positions.relative_position_bucket(jnp.asarray(rel), bidirectional=bidirectional,
                                           num_buckets=buckets, max_distance=max_distance)
  want = [hf_t5_bucket(int(r), bidirectional, buckets, max_distance) for r in rel]
  np.testing.assert_array_equal(np.asarray(got), want)


def test_relative_bias_is_one_table_per_stack_shared_by_layers():
  _, params = build()
  assert params["encoder_relative_bias"]["relative_attention_bias"].shape == (32, 4)
  assert params["decoder_relative_bias"]["relative_attention_bias"].shape == (32, 4)
  assert not any("relative" in k for k in params["encoder"]["layers_0"]["block"])


def test_bad_config_values():
  with pytest.raises(ValueError, match="relative_max_distance"):
    build(relative_buckets=32, relative_max_distance=8)
  with pytest.raises(ValueError, match="model.position"):
    build(position="alibi")



def _rms(x):
  return float(jnp.sqrt(jnp.mean(jnp.square(x))))


def _position_to_token_rms(embed_with):
  """RMS of what the positions add to the embedding, over the token embeddings' RMS;
  embed_with(position) embeds the same tokens with the same params."""
  with_positions, without = embed_with("sinusoidal"), embed_with("none")
  return _rms(with_positions - without) / _rms(without)


@pytest.mark.parametrize("scale_embeddings", [False, True])
def test_sinusoids_sit_at_the_token_embeddings_scale_as_in_the_decoder(scale_embeddings):
  """Unit sinusoids drowned init_std-size embeddings (ratio ~35, or ~6 scaled by sqrt(d));
  the encoder-decoder now adds them at the embeddings' scale, as the GPT decoder does."""
  module, params = build(position="sinusoidal", scale_embeddings=scale_embeddings)
  tokens, positions = jnp.arange(2, 14)[None], jnp.arange(12)[None]
  ratio = _position_to_token_rms(lambda position: module.clone(
      cfg=dataclasses.replace(module.cfg, position=position)).apply(
          {"params": params}, tokens, positions, True,
          method=lambda m, *a: m._embed("encoder", *a)))
  gpt = model_lib.build(_gpt_model_config(position="sinusoidal"))
  embed_params = nn.meta.unbox(gpt.init(jax.random.PRNGKey(0), SRC)["params"])["embed"]
  gpt_ratio = _position_to_token_rms(lambda position: layers.Embedder(
      dataclasses.replace(gpt.cfg, position=position)).apply(
          {"params": embed_params}, tokens, positions))
  assert 0.5 < ratio < 2.0 and ratio == pytest.approx(gpt_ratio, rel=0.3), (ratio, gpt_ratio)


def _gpt_model_config(**overrides):
  m = base.get_config().model
  m.update(dict(vocab_size=20, d_model=32, num_layers=1, num_heads=4, mlp_dim=64, max_len=16))
  m.update(overrides)
  return m


@pytest.mark.parametrize("family", ["gpt", "bert", "electra"])
def test_relative_positions_outside_the_encoder_decoder_are_rejected(family):
  with pytest.raises(ValueError, match="only the encoder_decoder family computes"):
    model_lib.build(_gpt_model_config(family=family, position="relative"))
