"""Each bad config value or bad input stops a run with one ValueError naming the key (or
file) and the fix, before any tokenizer is trained or data is prepared (issue 14, item 8)."""
import os
import re
import shutil

import pytest

from model import hf
from eval import hf_workdir
from tests import tiny
from train import experiment
from train import loop

BERT_MLM = {"objective": "mlm", "model.family": "bert", "data.mask_token": True}

# (overrides of tiny.tiny_config, text the error must contain): each is the first error
# validate() reaches.
BAD_VALUES = [
    ({"data.eval_stride": 33}, "data.eval_stride=33 must be in [0, data.seq_len=32]"),
    ({"data.random_windows": True, "data.add_eos": True},
     "data.random_windows=True draws windows from one text stream; set data.add_eos=False"),
    ({"train.steps": 0}, "train.steps=0 must be"),
    ({"train.steps": -3}, "train.steps=-3 must be"),
    ({"model.d_model": 0}, "model.d_model=0 must be"),
    ({"model.mlp_dim": 0}, "model.mlp_dim=0 must be"),
    ({"model.num_layers": 0}, "model.num_layers=0 must be"),
    ({"model.num_heads": -4}, "model.num_heads=-4 must be"),
    ({"model.max_len": 0}, "model.max_len=0 must be"),
    ({"model.vocab_size": -1}, "model.vocab_size=-1 must be"),
    ({"model.head_dim": -8}, "model.head_dim=-8 must be >= 0; 0 means"),
    ({"model.num_kv_heads": -1}, "model.num_kv_heads=-1 must be >= 0; 0 means"),
    ({"model.num_heads": 3}, "model.num_heads=3 must divide model.d_model=32"),
    ({"model.num_kv_heads": 3}, "model.num_kv_heads=3"),
    ({"model.dropout": 1.0}, "model.dropout=1.0 must be in [0, 1)"),
    ({"model.attention_dropout": -0.1}, "model.attention_dropout=-0.1 must be in [0, 1)"),
    ({"model.family": "lstm", "model.d_model": 0}, "model.d_model=0 must be"),
    ({"model.family": "lstm", "model.dropout": -0.5}, "model.dropout=-0.5 must be"),
    ({"model.family": "lstm", "model.init_uniform": -0.1}, "model.init_uniform=-0.1 must be"),
    ({"data.contiguous": True}, "data.contiguous=True carries an LSTM's state; model.family"),
    ({"model.family": "lstm", "data.contiguous": True, "data.random_windows": True},
     "data.contiguous=True and data.random_windows both"),
    ({**BERT_MLM, "model.embed_dim": -1}, "model.embed_dim=-1 must be in [0, model.d_model=32]"),
    ({"objective": "classification", "task.head_dropout": 1.0}, "task.head_dropout=1.0"),
    ({"objective": "mlm"}, "objective='mlm' trains model.family bert, not 'gpt'"),
    ({"train.eval_batches": -1}, "train.eval_batches=-1 must be"),
    ({"train.keep_checkpoints": 0}, "train.keep_checkpoints=0 must be"),
    ({"train.grad_accum_steps": 0}, "train.grad_accum_steps=0 must be"),
    ({"train.grad_accum_steps": 100, "train.warmup_steps": 0},
     "train.grad_accum_steps=100 is more than train.steps=80"),
    ({"train.grad_clip": -1.0}, "train.grad_clip=-1.0 must be"),
    ({"train.peak_flops": -1.0}, "train.peak_flops=-1.0 must be"),
    ({"train.xla_cpu_scheduler": "fast"}, "train.xla_cpu_scheduler='fast' is not a scheduler"),
    ({"train.learning_rate": 0.0}, "train.learning_rate=0.0 must be"),
    ({"train.learning_rate": float("nan")}, "train.learning_rate=nan must be"),
    ({"train.warmup_steps": -1}, "train.warmup_steps=-1 must be >= 0"),
    ({"train.warmup_steps": 81}, "train.warmup_steps=81 is longer than the run's 80"),
    ({"train.end_learning_rate": -1e-3}, "train.end_learning_rate=-0.001 must be"),
    ({"data.seq_len": 0}, "data.seq_len=0 must be"),
    ({"data.batch_size": 0}, "data.batch_size=0 must be"),
    ({"data.batch_size": -8}, "data.batch_size=-8 must be"),
    ({"data.batch_size": 12, "mesh.data": -1},
     "data.batch_size=12 is not divisible by the data-parallel size 8"),
    ({**BERT_MLM, "data.mask_rate": 0.0}, "data.mask_rate=0.0 must be in (0, 1)"),
    ({**BERT_MLM, "data.mask_rate": 1.0}, "data.mask_rate=1.0 must be in (0, 1)"),
    ({**BERT_MLM, "data.masking": "static", "data.dupe_factor": 0}, "data.dupe_factor=0 must"),
    ({**BERT_MLM, "objective": "sop", "data.seq_len": 4}, "data.seq_len=4 is too short"),
    # A family's or objective's key set in another's config (base.py's OWNERS):
    ({"data.packing": True}, "data.packing=True is for the encoder_decoder family only "
     "(model.family='gpt' here); drop the override to keep its default False"),
    ({"data.chat_tokens": True}, "data.chat_tokens=True is for the chat_sft objective only "
     "(objective='causal_lm' here); drop the override to keep its default False, or set "
     "objective=chat_sft"),
    ({"chat.temperature": 1.5}, "chat.temperature=1.5 is for the chat_sft objective only"),
    ({"model.share_layers": True}, "model.share_layers=True is for the bert and electra "
     "families only (model.family='gpt' here)"),
    # ... and a bad value of one, in its own family's or objective's config:
    ({"objective": "seq2seq", "model.family": "encoder_decoder", "decode.beam_size": 0},
     "decode.beam_size=0 must be an integer >= 1 (encoder_decoder decoding); 1 decodes"),
    ({"objective": "seq2seq", "model.family": "encoder_decoder", "model.num_decoder_layers": -1},
     "model.num_decoder_layers=-1 must be >= 0"),
    ({"objective": "chat_sft", "chat.top_p": 0.0},
     "chat.top_p=0.0 must be in (0, 1] (chat_sft replies)"),
    ({"objective": "chat_sft", "data.turn_separator": ""}, "data.turn_separator='' cannot"),
    ({"objective": "seq2seq", "model.family": "encoder_decoder", "data.dataset": "synthetic",
      "data.task": "bogus"}, "unknown data.task='bogus'; choose one of reverse"),
    ({"objective": "seq2seq", "model.family": "encoder_decoder", "model.decoder_start_id": -1},
     "model.decoder_start_id=-1 must be a token id >= 0"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  return tiny.write_corpus(str(tmp_path_factory.mktemp("user_errors")))


def _config(text_path: str, data_dir: str, overrides: dict):
  c = tiny.tiny_config(text_path, data_dir)
  c.update_from_flattened_dict(overrides)
  return c


@pytest.mark.parametrize("overrides,message", BAD_VALUES,
                         ids=[",".join(f"{k}={v}" for k, v in o.items()) for o, _ in BAD_VALUES])
def test_bad_value_stops_the_run_before_any_work(corpus, tmp_path, overrides, message):
  data_dir, workdir = str(tmp_path / "tfds"), str(tmp_path / "w")
  c = _config(corpus, data_dir, overrides)
  with pytest.raises(ValueError, match=re.escape(message)):
    experiment.validate(c)
  with pytest.raises(ValueError, match=re.escape(message)):
    loop.train_and_evaluate(c, workdir)
  assert not os.path.exists(workdir) and not os.path.exists(data_dir), "work began"


@pytest.mark.parametrize("text,message", [
    ("", r"corpus\.txt has no text \(it is empty or only whitespace, 0 characters\)"),
    (" \n\t\n  \n", r"corpus\.txt has no text \(it is empty or only whitespace, 7 characters\)"),
    ("the quick brown fox jumps over the lazy dog.\n",  # one line: validation is its end
     r"'validation' split of data\.files='.*corpus\.txt' .* has characters the char "
     r"tokenizer has no id for: \['\\n', '\.', 'd', 'g'\]"),
    ("to be or not to be\n" * 20 + "\n" * 60,  # the last 10% is blank lines
     r"validation split of \['.*corpus\.txt'\] has no text, only 44 whitespace characters"),
], ids=["empty", "whitespace", "one_line", "blank_validation"])
def test_bad_text_file_stops_the_run_before_training(tmp_path, text, message):
  path = tiny.write_corpus(str(tmp_path), text)
  workdir = str(tmp_path / "w")
  with pytest.raises(ValueError, match=message):
    loop.train_and_evaluate(_config(path, str(tmp_path / "tfds"), {}), workdir)
  assert not os.path.exists(os.path.join(workdir, "tokenizer")), "a rejected tokenizer was kept"


def test_truncated_safetensors_names_the_file(tmp_path):
  hf_dir = str(tmp_path / "gpt2")
  shutil.copytree(os.path.join(os.path.dirname(__file__), "fixtures", "hf", "gpt2_small"),
                  hf_dir)
  path = os.path.join(hf_dir, "model.safetensors")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  message = re.escape(path) + r" \(\d+ bytes\) is not a readable safetensors file"
  with pytest.raises(ValueError, match=message):
    hf_workdir.import_to_workdir(hf_dir, str(tmp_path / "w"))
  with pytest.raises(ValueError, match=message):  # the bfloat16 fallback reader too
    hf._load_with_bfloat16(path)


@pytest.mark.parametrize("overrides,message", [
    ({"sample.top_p": 0.0}, "sample.top_p=0.0 must be in (0, 1]"),
    ({"sample.temperature": -1.0}, "sample.temperature=-1.0 must be >= 0"),
    ({"sample.max_new_tokens": 0}, "sample.max_new_tokens=0 >= 1"),
])
def test_bad_sample_value_stops_the_run_before_training(corpus, tmp_path, overrides, message):
  """End-of-run samples are checked before any work, not after the whole training."""
  data_dir, workdir = str(tmp_path / "tfds"), str(tmp_path / "w")
  with pytest.raises(ValueError, match=re.escape(message)):
    loop.train_and_evaluate(_config(corpus, data_dir, overrides), workdir)
  assert not os.path.exists(workdir) and not os.path.exists(data_dir), "work began"
