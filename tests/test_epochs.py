"""Budgets in epochs (train.epochs), step decay by epochs and plateau decay in a real run."""

import pytest

from data import tokenizers
from tests import tiny
from train import epochs as epochs_lib
from train import experiment as experiment_lib
from train import loop


def fixed_splits(c, path):
  """train and validation split = the whole file (known token counts); no samples."""
  c.data.files = ""
  c.data.train_files = path
  c.data.validation_files = path
  c.sample.num_samples = 0
  return c


def test_tokens_and_steps_per_epoch_on_a_tiny_corpus(tmp_path):
  """A char corpus of known length: tokens = its characters (+ an EOS at the file's end
  with add_eos), steps per epoch = tokens // (batch x seq_len), epochs round up to a step."""
  text = "abcdefghij\n" * 100  # 1,100 characters, one file
  path = tiny.write_corpus(str(tmp_path), text)
  c = fixed_splits(tiny.tiny_config(path, str(tmp_path / "tfds")), path)
  tok = tokenizers.CharTokenizer.train(iter([text]))
  assert epochs_lib.split_tokens(c.data, tok, "train") == 1100
  c.data.add_eos = True
  assert epochs_lib.split_tokens(c.data, tok, "train") == 1101
  assert epochs_lib.steps_per_epoch(1100, c.data) == 1099 // (8 * 32) == 4
  assert epochs_lib.steps_per_epoch(1025, c.data) == 4  # 1,024 pairs: 4 steps of 256
  assert epochs_lib.steps_per_epoch(1024, c.data) == 3
  assert epochs_lib.total_steps(13, 4) == 52
  assert epochs_lib.total_steps(0.5, 5) == 3  # part of an epoch: whole steps, rounded up
  c.data.batch_size, c.data.seq_len = 64, 32
  with pytest.raises(ValueError, match="fewer than one step"):
    epochs_lib.steps_per_epoch(1100, c.data)


def test_epochs_set_the_steps_and_step_decay_halves_at_the_epoch_boundary(corpus, tmp_path):
  path, data_dir = corpus
  c = fixed_splits(tiny.tiny_config(
      path, data_dir, epochs=2, schedule="step", decay_after_epochs=1, decay_factor=0.5,
      optimizer="sgd", learning_rate=0.5, warmup_steps=0, weight_decay=0.0,
      eval_every_epochs=0.5, checkpoint_every=1000), path)
  per_epoch = len(tiny.CORPUS) // (8 * 32)  # 5,880 chars // 256 = 22
  workdir = str(tmp_path / "run")
  report = loop.train_and_evaluate(c, workdir)
  assert report["step"] == 2 * per_epoch
  saved = experiment_lib.load_config(workdir).train
  assert (saved.steps, saved.eval_every) == (2 * per_epoch, per_epoch // 2)  # resolved
  assert [r["epoch"] for r in tiny.metrics_rows(workdir, "eval")] == [0.5, 1.0, 1.5]  # 2.0: final_eval
  train = tiny.metrics_rows(workdir, "train")
  assert [r["epoch"] for r in train] == pytest.approx(
      [s / per_epoch for s in range(1, 2 * per_epoch + 1)])
  lrs = [r["learning_rate"] for r in train]  # row `done` holds update done - 1's rate
  assert lrs == pytest.approx([0.5] * per_epoch + [0.25] * per_epoch)
  assert tiny.metrics_rows(workdir, "final_eval")[0]["epoch"] == 2.0


def test_eval_every_epochs_needs_epochs(corpus):
  path, data_dir = corpus
  with pytest.raises(ValueError, match="train.eval_every_epochs=1.0 must be 0, or > 0 with"):
    experiment_lib.validate(tiny.tiny_config(path, data_dir, eval_every_epochs=1.0))


def test_epochs_belong_to_causal_lm(corpus):
  path, data_dir = corpus
  c = tiny.tiny_config(path, data_dir, epochs=1)
  c.objective = "mlm"
  c.model.family = "bert"
  with pytest.raises(ValueError, match="train.epochs=1.0 is for the causal_lm objective only"):
    experiment_lib.validate(c)


def test_plateau_decay_follows_evals_and_resumes_exactly(corpus, tmp_path):
  """An lr too small to move the params: every eval after the first is no better, so the
  scale halves at each; the state carries it, so an interrupted run logs the same rows."""
  path, data_dir = corpus
  c = fixed_splits(tiny.tiny_config(
      path, data_dir, steps=20, optimizer="sgd", learning_rate=1e-12, warmup_steps=0,
      schedule="constant", weight_decay=0.0, plateau_factor=0.5, eval_every=5,
      checkpoint_every=5), path)
  straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
  loop.train_and_evaluate(c, straight)
  assert [r["lr_scale"] for r in tiny.metrics_rows(straight, "eval")] == [1.0, 0.5, 0.25]
  lrs = [r["learning_rate"] for r in tiny.metrics_rows(straight, "train")]
  assert lrs == pytest.approx([1e-12] * 10 + [5e-13] * 5 + [2.5e-13] * 5)
  assert loop.train_and_evaluate(c, resumed, stop_after=12) is None
  loop.train_and_evaluate(c, resumed)
  for split in ("train", "eval", "final_eval"):
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("tokens_per_sec", "mfu", "time")}
                        for r in rs]
    assert strip(tiny.metrics_rows(straight, split)) == strip(tiny.metrics_rows(resumed, split))


@pytest.mark.parametrize("key,value,match", [
    ("momentum", 0.9, "train.momentum=0.9 is for train.optimizer=sgd only"),
    ("decay_factor", 0.25, "train.decay_factor=0.25 is for train.schedule=step only"),
])
def test_recipe_keys_of_another_optimizer_or_schedule_stop_the_run(corpus, key, value, match):
  path, data_dir = corpus
  with pytest.raises(ValueError, match=match):
    experiment_lib.validate(tiny.tiny_config(path, data_dir, **{key: value}))


def test_epochs_replace_a_set_train_steps_with_a_warning(corpus, tmp_path, capsys):
  path, data_dir = corpus
  c = fixed_splits(tiny.tiny_config(path, data_dir, epochs=0.5, steps=7), path)
  exp = experiment_lib.build(c, str(tmp_path / "w"))
  assert (exp.steps_per_epoch, exp.epoch_tokens, exp.config.train.steps) == (22, 5880, 11)
  assert "11 steps replace train.steps=7" in capsys.readouterr().err


def test_an_epoch_is_the_contiguous_pipelines_epoch(tmp_path):
  """data.contiguous (stateful LSTM): the carried state resets exactly every
  steps_per_epoch batches, so `epoch` and schedule=step follow its epochs."""
  from data import contiguous
  text = "abcdefghij\n" * 100
  path = tiny.write_corpus(str(tmp_path), text)
  c = fixed_splits(tiny.tiny_config(path, str(tmp_path / "tfds")), path)
  c.data.batch_size, c.data.seq_len = 4, 16
  tok = tokenizers.CharTokenizer.train(iter([text]))
  per_epoch = epochs_lib.steps_per_epoch(epochs_lib.split_tokens(c.data, tok, "train"), c.data)
  assert per_epoch == 1099 // 64 == 17
  it = iter(contiguous.make_dataset(c.data, tok, "train"))
  resets = [i for i in range(3 * per_epoch + 1) if next(it)["reset"][0, 0] == 1.0]
  assert resets == [0, per_epoch, 2 * per_epoch, 3 * per_epoch]
