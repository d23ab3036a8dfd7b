"""The task registry (train/tasks/): every objective is one Task, and only it knows its name."""
import ast
import dataclasses
import pathlib
import re

import pytest

import data
import model as model_lib
from tests import tiny
from train import experiment
from train import tasks

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL = ("causal_lm", "prefix_lm", "mlm", "mlm_nsp", "sop", "electra", "seq2seq",
       "span_corruption", "classification", "token_classification", "chat_sft",
       "reward_model", "dpo", "grpo", "ppo")


def test_every_objective_is_registered_with_families_and_batch_keys():
  assert set(tasks.names()) == set(ALL)
  for name in tasks.names():
    task = tasks.get(name)
    assert task.name == name
    assert task.families and set(task.families) <= set(model_lib.FAMILIES), name
    assert task.batch_keys and len(set(task.batch_keys)) == len(task.batch_keys)
    for hook in (task.make_loss_fn, task.make_dataset, task.check_data_config, task.wrap,
                 task.summarize):
      assert callable(hook), name
    with pytest.raises(dataclasses.FrozenInstanceError):
      task.name = "other"  # type: ignore[misc]
  # End-of-run reports as before the registry: samples for the LM, BLEU for translation,
  # per-class tables for the classifiers; they and the reward model add a head to a backbone.
  assert [n for n in ALL if tasks.get(n).lm_samples] == ["causal_lm", "prefix_lm", "dpo", "grpo",
                                                         "ppo"]
  assert [n for n in ALL if tasks.get(n).generation_eval] == ["seq2seq"]
  heads = [n for n in ALL if tasks.get(n).class_report]
  assert heads == ["classification", "token_classification"]
  assert [n for n in ALL if tasks.get(n).param_layout != ((), ())] == heads + ["reward_model",
                                                                               "ppo"]


def test_unknown_objective_names_the_choices(tmp_path):
  with pytest.raises(ValueError, match=re.escape(
      "unknown objective='mlm_typo'; choose one of causal_lm, prefix_lm, mlm,")):
    tasks.get("mlm_typo")
  c = tiny.tiny_config(str(tmp_path / "none.txt"), str(tmp_path / "tfds"))
  c.objective = "mlm_typo"
  with pytest.raises(ValueError, match="unknown objective='mlm_typo'"):
    experiment.validate(c)  # before any data: the corpus does not even exist


@pytest.mark.parametrize("objective,family,message", [
    ("seq2seq", "gpt", "objective='seq2seq' trains model.family encoder_decoder, not 'gpt'"),
    ("causal_lm", "bert", "objective='causal_lm' trains model.family gpt or lstm, not 'bert'"),
    ("classification", "lstm",
     "objective='classification' trains model.family gpt or bert or electra, not 'lstm'"),
])
def test_family_mismatch_stops_validation_before_data(tmp_path, objective, family, message):
  c = tiny.tiny_config(str(tmp_path / "none.txt"), str(tmp_path / "tfds"))
  c.objective, c.model.family = objective, family
  with pytest.raises(ValueError, match=re.escape(message)):
    experiment.validate(c)
  assert not (tmp_path / "tfds").exists()


def test_batch_missing_a_key_names_the_key_and_the_task():
  task = tasks.get("mlm_nsp")
  batch = {k: None for k in task.batch_keys if k != "pair_label"}
  with pytest.raises(ValueError, match=r"objective='mlm_nsp' needs batch keys pair_label "
                                       r"that the batch lacks"):
    task.check_batch(batch)
  task.check_batch(dict(batch, pair_label=None, extra=None))  # extra keys are fine


@pytest.mark.parametrize("objective", ["causal_lm", "mlm", "mlm_nsp", "sop", "electra"])
def test_text_tasks_build_batches_with_their_keys(tmp_path, objective):
  """The data/loss contract on real batches (the other tasks: their training tests, where
  the loop checks the first batch)."""
  c = tiny.tiny_config(tiny.write_corpus(str(tmp_path)), str(tmp_path / "tfds"))
  c.objective, c.data.mask_token = objective, True
  task = tasks.get(objective)
  task.check_data_config(c.data)
  tok = data.build_tokenizer(c.data, None, lambda: data.iter_texts(c.data, "train"))
  for train in (True, False):
    batch = next(iter(task.make_dataset(c.data, tok, "train", seed=0, train=train)))
    task.check_batch(batch)


def _objective_branches(path: pathlib.Path) -> list[str]:
  """Lines where code compares, indexes or matches on something named *objective*."""
  tree = ast.parse(path.read_text(encoding="utf-8"))
  names_objective = lambda node: any(  # config.objective, objective, source_objective, ...
      re.fullmatch(r"_?(\w*_)?objective", getattr(n, "attr", None) or getattr(n, "id", ""))
      for n in ast.walk(node) if isinstance(n, (ast.Attribute, ast.Name)))
  hits = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Compare):
      branch = names_objective(node)
    elif isinstance(node, ast.Subscript):
      branch = names_objective(node.slice)
    elif isinstance(node, ast.Match):
      branch = names_objective(node.subject)
    else:
      continue
    if branch:
      hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:80]}")
  return hits


def test_nothing_outside_the_registry_branches_on_the_objective():
  offenders = []
  pattern = re.compile(r"objective\w*\s*(==|!=|\bin\s|\bnot\s+in\s)|(==|!=)\s*[\w.]*objective")
  for layer in ("model", "data", "train", "eval"):
    for path in sorted((ROOT / layer).rglob("*.py")):
      if (ROOT / "train" / "tasks") in path.parents:
        continue
      offenders += _objective_branches(path)
      for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#")[0]
        if pattern.search(code) and not code.strip().startswith(('"', "'")):
          offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()[:80]}")
  assert not offenders, ("only train/tasks/ may branch on the objective's name; move these "
                         "into the task:\n" + "\n".join(sorted(set(offenders))))
