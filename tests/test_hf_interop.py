"""Hugging Face interop against transformers' own numbers (fixtures; no torch needed).

tests/fixtures/hf/* were written by tests/fixtures/make_hf_fixtures.py with transformers
4.57.6 / torch 2.13.0: random-weight GPT-2, BERT, RoBERTa and T5 models, their logits on
random ids with padding, GPT-2's greedy `generate`, and tokenizer ids.
"""
import json
import os
import shutil

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import model as model_lib
from data import hf_tokenizer
from data import tokenizers as tokenizers_lib
from eval import sampling
from experiments.configs import base
from experiments.configs import encoder_decoder_base
from model import hf
from eval import hf_workdir
from tests import tiny

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "hf")
ALL = ("gpt2_small", "gpt2_odd_heads", "bert_small", "bert_odd_heads", "roberta_small",
       "t5_small", "t5_v1_1_odd_heads")
WITH_TOKENIZER = ("gpt2_small", "bert_small", "roberta_small", "t5_small")
TEXTS = ["Hello world!", "The lazy fox saves time.", "def main(): return 1234  # ok?",
         "unseen wörds like Zürich"]  # make_hf_fixtures.SAMPLES


def _expected(name):
  return dict(np.load(os.path.join(FIXTURES, name, "expected.npz")))


def _model_config(converted):
  c = (encoder_decoder_base if converted.family == "t5" else base).get_config().model
  c.update(converted.model_overrides)
  return c


def _build(converted):
  return model_lib.build(_model_config(converted))


def _logits(name):
  converted = hf.read_hf(os.path.join(FIXTURES, name))
  module, exp = _build(converted), _expected(name)
  ids = jnp.asarray(exp["input_ids"], jnp.int32)
  if converted.family == "gpt2":
    return module.apply({"params": converted.params}, ids), None, exp
  if converted.family == "t5":  # teacher-forced decoder inputs, starting from pad (0)
    dec = jnp.asarray(exp["decoder_input_ids"], jnp.int32)
    return module.apply({"params": converted.params}, ids, dec), None, exp
  types = jnp.asarray(exp.get("token_type_ids", np.zeros_like(exp["input_ids"])), jnp.int32)
  out = module.apply({"params": converted.params}, ids, token_types=types)
  return out["mlm"], out.get("pair"), exp


@pytest.mark.parametrize("name", ALL)
def test_logits_equal_transformers(name):
  """Every non-padding position, padding masked by the converted model's own defaults
  (pad_id / position_offset from config.json), not by a mask the test passes."""
  logits, pair, exp = _logits(name)
  valid = exp.get("decoder_attention_mask", exp["attention_mask"]).astype(bool)
  assert exp["attention_mask"].min() == 0 and valid.min() == 0  # the fixture does pad
  np.testing.assert_allclose(np.asarray(logits)[valid], exp["logits"][valid], atol=1e-4)
  if "pair_logits" in exp:  # BERT's pooler + NSP head
    np.testing.assert_allclose(np.asarray(pair), exp["pair_logits"], atol=1e-4)


@pytest.mark.parametrize("name", ("gpt2_small", "gpt2_odd_heads"))
def test_greedy_generation_equals_transformers_generate(name):
  converted = hf.read_hf(os.path.join(FIXTURES, name))
  module, exp = _build(converted), _expected(name)
  prompts = [exp["prompt_0"].tolist(), exp["prompt_1"].tolist()]
  out = sampling.generate(module, converted.params, prompts, max_new_tokens=10,
                          max_len=converted.model_overrides["max_len"], rng=jax.random.PRNGKey(0),
                          temperature=0.0)
  assert out == [exp["generated_0"].tolist(), exp["generated_1"].tolist()]


@pytest.mark.parametrize("name", ALL)
def test_export_reproduces_the_checkpoint_exactly(name):
  directory = os.path.join(FIXTURES, name)
  converted = hf.read_hf(directory)
  config, tensors = hf.to_hf(_model_config(converted), converted.params)
  original = load_file(os.path.join(directory, "model.safetensors"))
  assert sorted(tensors) == sorted(original)
  for key, value in original.items():
    assert tensors[key].dtype == value.dtype and tensors[key].shape == value.shape, key
    np.testing.assert_array_equal(tensors[key], value, err_msg=key)
  with open(os.path.join(directory, "config.json")) as f:
    original_config = json.load(f)
  for key, value in config.items():
    if key in original_config and "dropout" not in key and "pdrop" not in key:
      assert original_config[key] == value, key


@pytest.fixture(scope="module")
def gpt2_workdir(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("hf_gpt2")
  corpus = tiny.write_corpus(str(tmp))
  workdir = str(tmp / "run")
  hf_workdir.import_to_workdir(
      os.path.join(FIXTURES, "gpt2_small"), workdir, "gpt2",
      {"data.dataset": "text_files", "data.files": corpus, "data.data_dir": str(tmp / "tfds"),
       "data.batch_size": 8})
  return workdir


def test_workdir_checkpoint_holds_the_converted_params(gpt2_workdir):
  from eval import restore as restore_lib
  restored = restore_lib.restore_params(gpt2_workdir)
  converted = hf.read_hf(os.path.join(FIXTURES, "gpt2_small"))
  got, want = hf._flatten(restored.params), hf._flatten(converted.params)
  assert sorted(got) == sorted(want)
  for key in want:
    np.testing.assert_array_equal(np.asarray(got[key]), want[key], err_msg=key)
  assert restored.step == 0 and restored.exp.tokenizer.kind == "hf"
  # eval.generate's path: the prompt through the HF tokenizer, EOS (<|endoftext|>) first
  text = sampling.generate_from_workdir(gpt2_workdir, "Hello world", max_new_tokens=6,
                                        strategy="greedy")[0]
  tok = restored.exp.tokenizer
  ids = sampling.generate(restored.exp.model, restored.params,
                          [[tok.eos_id] + tok.encode("Hello world")], max_new_tokens=6,
                          max_len=32, rng=jax.random.PRNGKey(0), temperature=0.0,
                          eos_id=tok.eos_id)[0]
  assert text == tok.decode(ids) and len(ids) == 6


def test_workdir_exports_to_the_original_files(gpt2_workdir, tmp_path):
  out = str(tmp_path / "hf")
  config, _ = hf_workdir.export_workdir(gpt2_workdir, out)
  assert (config["bos_token_id"], config["eos_token_id"]) == (0, 0)  # the tokenizer's
  original = load_file(os.path.join(FIXTURES, "gpt2_small", "model.safetensors"))
  exported = load_file(os.path.join(out, "model.safetensors"))
  assert sorted(exported) == sorted(original)
  for key in original:
    np.testing.assert_array_equal(exported[key], original[key], err_msg=key)
  # and the export imports again to the same params, tokenizer included
  again = hf.read_hf(out)
  assert again.model_overrides == hf.read_hf(os.path.join(FIXTURES, "gpt2_small")).model_overrides
  assert hf_tokenizer.HFTokenizer(out).encode(TEXTS[0]) == _expected("gpt2_small")[
      "tok_ids_0"].tolist()


@pytest.mark.parametrize("name", WITH_TOKENIZER)
def test_tokenizer_matches_transformers(name, tmp_path):
  exp = _expected(name)
  tok = hf_tokenizer.HFTokenizer(os.path.join(FIXTURES, name))
  tok.save(str(tmp_path))
  reloaded = tokenizers_lib.load_tokenizer(str(tmp_path))  # a workdir's tokenizer/
  for t in (tok, reloaded):
    for i, text in enumerate(TEXTS):
      assert t.encode(text) == exp[f"tok_ids_{i}"].tolist(), (name, text)
      assert t.decode(exp[f"tok_ids_{i}"]) == str(exp[f"tok_text_{i}"])
    assert (t.pad_id, t.eos_id, t.bos_id) == (tok.pad_id, tok.eos_id, tok.bos_id)
  specials = {"gpt2_small": (0, 0, 0, None), "bert_small": (0, 3, 2, 4),
              "roberta_small": (1, 2, 0, 4), "t5_small": (0, 1, 0, None)}[name]
  assert (tok.pad_id, tok.eos_id, tok.bos_id, tok.mask_id) == specials


def test_t5_workdir_round_trip(tmp_path):
  """SentencePiece tokenizer, encoder_decoder family, seq2seq objective, export back."""
  workdir, out = str(tmp_path / "run"), str(tmp_path / "hf")
  exp = hf_workdir.import_to_workdir(
      os.path.join(FIXTURES, "t5_small"), workdir, "t5",
      {"data.dataset": "text_files", "data.files": tiny.write_corpus(str(tmp_path)),
       "data.data_dir": str(tmp_path / "tfds"), "data.batch_size": 8})
  assert exp.config.model.family == "encoder_decoder" and exp.config.objective == "seq2seq"
  hf_workdir.export_workdir(workdir, out)
  original = load_file(os.path.join(FIXTURES, "t5_small", "model.safetensors"))
  exported = load_file(os.path.join(out, "model.safetensors"))
  assert sorted(exported) == sorted(original)
  assert all(np.array_equal(exported[k], original[k]) for k in original)
  assert os.path.exists(os.path.join(out, "spiece.model"))


def test_wordpiece_from_vocab_txt_alone(tmp_path):
  """Older BERT checkpoints ship vocab.txt without tokenizer.json."""
  for name in ("vocab.txt", "tokenizer_config.json"):
    shutil.copy(os.path.join(FIXTURES, "bert_small", name), tmp_path / name)
  tok = hf_tokenizer.HFTokenizer(str(tmp_path))
  exp = _expected("bert_small")
  assert [tok.encode(t) for t in TEXTS] == [exp[f"tok_ids_{i}"].tolist() for i in range(4)]
  assert (tok.cls_id, tok.sep_id, tok.mask_id) == (2, 3, 4)


def _copy_fixture(name, tmp_path, edit=None, config_edit=None):
  src, dst = os.path.join(FIXTURES, name), tmp_path / name
  shutil.copytree(src, dst)
  if edit:
    tensors = load_file(str(dst / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(dst / "model.safetensors"))
  if config_edit:
    config = json.loads((dst / "config.json").read_text())
    config_edit(config)
    (dst / "config.json").write_text(json.dumps(config))
  return str(dst)


def test_hub_layout_without_prefix_and_with_buffers_imports(tmp_path):
  """The hub's gpt2 stores 'h.0...' (no 'transformer.') plus causal-mask buffers."""
  def to_hub(t):
    for k in list(t):
      t[k.removeprefix("transformer.")] = t.pop(k)
    t["h.0.attn.bias"] = np.tril(np.ones((1, 1, 32, 32), np.float32))
  directory = _copy_fixture("gpt2_small", tmp_path, to_hub)
  got = hf._flatten(hf.read_hf(directory).params)
  want = hf._flatten(hf.read_hf(os.path.join(FIXTURES, "gpt2_small")).params)
  assert all(np.array_equal(got[k], want[k]) for k in want) and sorted(got) == sorted(want)


def test_missing_weight_is_named(tmp_path):
  directory = _copy_fixture(
      "bert_small", tmp_path, lambda t: t.pop("bert.encoder.layer.1.attention.self.key.bias"))
  with pytest.raises(ValueError, match=r"missing weights \['bert.encoder.layer.1.attention"
                                       r".self.key.bias'\]"):
    hf.read_hf(directory)


def test_unexpected_weight_is_named(tmp_path):
  def add(t):
    t["transformer.h.2.ln_1.weight"] = np.ones(24, np.float32)
    t["transformer.extra"] = np.ones(3, np.float32)
  directory = _copy_fixture("gpt2_small", tmp_path, add)
  with pytest.raises(ValueError, match=r"unexpected weights \['transformer.extra', "
                                       r"'transformer.h.2.ln_1.weight'\]"):
    hf.read_hf(directory)


def test_wrong_shape_is_named(tmp_path):
  def shrink(t):
    t["roberta.embeddings.position_embeddings.weight"] = t[
        "roberta.embeddings.position_embeddings.weight"][:10]
  directory = _copy_fixture("roberta_small", tmp_path, shrink)
  converted = hf.read_hf(directory)
  module = _build(converted)
  reference = jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0),
                                                 jnp.zeros((1, 4), jnp.int32)))["params"]
  with pytest.raises(ValueError, match=r"embed/tokens/position/embedding: \(10, 16\) != "
                                       r"\(34, 16\)"):
    hf.check_shapes(converted.params, flax.linen.meta.unbox(reference), directory)


def test_unsupported_architecture_lists_the_supported(tmp_path):
  def llama(c):
    c["architectures"], c["model_type"] = ["LlamaForCausalLM"], "llama"
  directory = _copy_fixture("gpt2_odd_heads", tmp_path, config_edit=llama)
  with pytest.raises(ValueError, match=r"unsupported architecture \['LlamaForCausalLM'\]; "
                                       r"attnlab converts GPT2LMHeadModel, BertForPreTraining"):
    hf.read_hf(directory)
  with pytest.raises(ValueError, match="--family=bert but config.json says GPT2LMHeadModel"):
    hf.read_hf(os.path.join(FIXTURES, "gpt2_odd_heads"), "bert")


def test_export_of_a_model_without_hf_equivalent_says_why():
  m = base.get_config().model
  m.position, m.norm = "rope", "rmsnorm"
  with pytest.raises(ValueError, match=r"no GPT2LMHeadModel equivalent: position=rope .*"
                                       r"norm=rmsnorm .*use_bias=False"):
    hf.to_hf(m, {})


def test_bfloat16_and_float16_checkpoints_read_as_float32(tmp_path):
  """numpy has no bfloat16; such files (written by torch) are read from their layout."""
  shutil.copy(os.path.join(FIXTURES, "half_precision.safetensors"), tmp_path / "x.safetensors")
  tensors = hf.read_tensors(str(tmp_path))
  expected = np.load(os.path.join(FIXTURES, "half_precision_expected.npz"))
  assert sorted(tensors) == sorted(expected.files)
  for key in expected.files:
    assert tensors[key].dtype == np.float32
    np.testing.assert_array_equal(tensors[key], expected[key])
  raw = hf._load_with_bfloat16(str(tmp_path / "x.safetensors"))  # the path without ml_dtypes
  assert all(np.array_equal(raw[k], expected[k]) for k in expected.files)


def test_masked_lm_config_with_nsp_weights_keeps_the_pair_head(tmp_path):
  """The hub's bert-base-uncased says BertForMaskedLM but ships the pooler and NSP head."""
  def mlm(c):
    c["architectures"] = ["BertForMaskedLM"]
  directory = _copy_fixture("bert_small", tmp_path, config_edit=mlm)
  converted = hf.read_hf(directory)
  assert converted.architecture == "BertForPreTraining"
  assert converted.model_overrides["encoder_heads"] == "mlm,pair"
  def drop_nsp(t):
    for k in [k for k in t if "pooler" in k or "seq_relationship" in k]:
      t.pop(k)
  directory = _copy_fixture("bert_small", tmp_path / "b", drop_nsp, mlm)
  assert hf.read_hf(directory).model_overrides["encoder_heads"] == "mlm"


def test_unused_pooler_is_dropped_and_named(tmp_path):
  """The hub's roberta-base ships a pooler that RobertaForMaskedLM has no use for."""
  def pooler(t):
    t["roberta.pooler.dense.weight"] = np.ones((16, 16), np.float32)
    t["roberta.pooler.dense.bias"] = np.ones(16, np.float32)
  converted = hf.read_hf(_copy_fixture("roberta_small", tmp_path, pooler))
  assert converted.dropped == ("roberta.pooler.dense.bias", "roberta.pooler.dense.weight")
  assert "pooler" not in converted.params
