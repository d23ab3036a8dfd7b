"""Start a fresh run from a pretrained attnlab workdir: `config.init_from = DIR` or `DIR@STEP`.

The source's tokenizer is copied into the new workdir (its vocabulary is what the params
were trained on), and its params fill the new model wherever paths and shapes agree:
- a fine-tuning model keeps the pretrained model under "backbone" (model/heads.py), so a
  source's top-level params map to "backbone/..." (and "backbone/..." to itself);
- declared heads ("head/...") are copied only when the source has them with the same
  shape (e.g. continuing a fine-tuned run); otherwise they keep their fresh init;
- a vocabulary table (token embedding, output layer) whose vocabulary grew because the
  new run appends special tokens (chat role markers) keeps the source's rows;
- every other target param must exist in the source with the same shape and dtype, or
  the run stops naming each mismatched path, both shapes and the differing model.* keys;
- source params the target has no use for (an MLM or LM head, BERT's NSP pooler) are
  dropped and logged.
A resumed run restores its own checkpoint instead; init_from then does nothing.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
from typing import Any, Optional

import jax
import ml_collections
import orbax.checkpoint as ocp
from absl import logging
from flax import traverse_util

from train import checkpoint as checkpoint_lib
from train import experiment as experiment_lib
from train import tasks as tasks_lib
from train.state import TrainState

Path = tuple[str, ...]
# Tokenizer settings follow the source (config.data.*): they describe its saved vocabulary.
_TOKENIZER_KEYS = ("tokenizer", "vocab_size", "spm_model_type", "mask_token")
_MAX_LISTED = 20
# model.* keys that change no param shape (left out of a mismatch report).
_NOT_ARCHITECTURE = ("dropout", "attention_dropout", "attention_impl", "remat", "dtype")


@dataclasses.dataclass
class Source:
  """A pretrained run: its workdir, the checkpoint step to read, its resolved config."""
  workdir: str
  step: int
  config: ml_collections.ConfigDict

  @property
  def spec(self) -> str:
    return f"{self.workdir}@{self.step}"


@dataclasses.dataclass
class Plan:
  """Which target params come from which source params, and which start fresh."""
  copied: dict[Path, Path]  # target path -> source path
  fresh: list[Path]  # declared heads the source lacks (or has in another shape)
  dropped: list[Path]  # source params the target does not use
  errors: list[str]  # target params the source cannot fill
  grown: dict[Path, Path] = dataclasses.field(default_factory=dict)  # vocab tables grown


def has_checkpoint(workdir: str) -> bool:
  return bool(checkpoint_lib.finished_steps(os.path.join(workdir, "checkpoints")))


def resolve(spec: str) -> Source:
  """`DIR` (latest step) or `DIR@STEP` -> Source, with a clear error for each bad case."""
  workdir, step = spec, None
  head, sep, tail = spec.rpartition("@")
  if sep and tail.isdigit():
    workdir, step = head, int(tail)
  workdir = os.path.abspath(os.path.expanduser(workdir))
  if not os.path.isdir(workdir):
    raise ValueError(f"init_from={spec!r}: {workdir} does not exist; give a pretrained "
                     "attnlab workdir (DIR or DIR@STEP)")
  config = experiment_lib.load_config(workdir)
  steps = checkpoint_lib.finished_steps(os.path.join(workdir, "checkpoints"))
  if not steps:
    raise ValueError(f"init_from={spec!r}: {workdir} has no finished checkpoint; train it "
                     "first (python -m train.main --workdir=...)")
  if step is None:
    step = steps[-1]
  elif step not in steps:
    raise ValueError(f"init_from={spec!r}: no checkpoint step {step}; {workdir} has steps "
                     f"{steps}")
  if not os.path.isdir(os.path.join(workdir, "tokenizer")):
    raise ValueError(f"init_from={spec!r}: {workdir} has no tokenizer/ directory")
  return Source(workdir=workdir, step=step, config=config)


def prepare_workdir(config: ml_collections.ConfigDict,
                    workdir: str) -> ml_collections.ConfigDict:
  """Before experiment.build: copy the source's tokenizer and take its tokenizer settings.

  A resumed run (the workdir has a checkpoint) reads neither the source nor its params
  again; it keeps the tokenizer settings it started with (its config.json).
  """
  if not config.init_from:
    return config
  if has_checkpoint(workdir):
    return _tokenizer_settings(config, experiment_lib.load_config(workdir))
  source = resolve(config.init_from)
  config = _tokenizer_settings(config, source.config)
  experiment_lib.validate(config)  # bad values stop the run before the workdir is written
  target = os.path.join(workdir, "tokenizer")
  if not os.path.isdir(target):
    os.makedirs(workdir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="tokenizer.tmp-", dir=workdir)
    shutil.copytree(os.path.join(source.workdir, "tokenizer"), staging, dirs_exist_ok=True)
    try:
      os.rename(staging, target)
    except OSError:  # another process copied it first
      shutil.rmtree(staging, ignore_errors=True)
  return config


def _tokenizer_settings(config: ml_collections.ConfigDict,
                        origin: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config = copy.deepcopy(config)
  with config.unlocked():
    for key in _TOKENIZER_KEYS:
      if key in origin.data:
        config.data[key] = origin.data[key]
  return config


def param_layout(objective: str) -> tuple[Path, tuple[str, ...]]:
  """(prefix of the pretrained model's params, top-level names of heads) for an objective."""
  return tasks_lib.get(objective).param_layout


def _flat(tree: Any) -> dict[Path, Any]:
  """{path tuple: leaf}, in jax's leaf order (keys sorted at every level)."""
  return dict(sorted(traverse_util.flatten_dict(tree).items(), key=lambda item: item[0]))


def _name(path: Path) -> str:
  return "/".join(path)


def _grows_vocab(source: Any, target: Any, vocab_sizes: tuple[int, int]) -> bool:
  """True when `target` is `source` with its vocabulary axis grown (appended tokens)."""
  old, new = vocab_sizes
  if not 0 < old < new or source.dtype != target.dtype or len(source.shape) != len(target.shape):
    return False
  differ = [i for i, (a, b) in enumerate(zip(source.shape, target.shape)) if a != b]
  return len(differ) == 1 and (source.shape[differ[0]], target.shape[differ[0]]) == (old, new)


def make_plan(source_params: dict[Path, Any], target_params: dict[Path, Any],
              source_objective: str, target_objective: str,
              vocab_sizes: tuple[int, int] = (0, 0)) -> Plan:
  """Match target params (shape/dtype leaves) to source ones by path (see module doc).

  vocab_sizes (source, target): a table whose vocabulary axis grew from one to the other
  (special tokens appended, e.g. chat role markers) keeps the source's rows; the new
  rows keep their fresh init.
  """
  src_prefix, _ = param_layout(source_objective)
  tgt_prefix, tgt_heads = param_layout(target_objective)
  plan = Plan(copied={}, fresh=[], dropped=[], errors=[])
  for path, target in target_params.items():
    is_head = bool(path) and path[0] in tgt_heads
    if path[:len(tgt_prefix)] == tgt_prefix and not is_head:
      src_path = src_prefix + path[len(tgt_prefix):]
    else:
      src_path = path
    source = source_params.get(src_path)
    same = (source is not None and tuple(source.shape) == tuple(target.shape)
            and source.dtype == target.dtype)
    if same:
      plan.copied[path] = src_path
    elif source is not None and _grows_vocab(source, target, vocab_sizes):
      plan.grown[path] = src_path
    elif is_head:
      plan.fresh.append(path)
    elif source is None:
      plan.errors.append(f"{_name(path)} {tuple(target.shape)}: not in the source "
                         f"(looked for {_name(src_path)})")
    else:
      plan.errors.append(f"{_name(path)}: source {tuple(source.shape)} {source.dtype} vs "
                         f"target {tuple(target.shape)} {target.dtype}")
  used = set(plan.copied.values()) | set(plan.grown.values())
  plan.dropped = [p for p in source_params if p not in used]
  return plan


def _model_differences(source: ml_collections.ConfigDict,
                       target: ml_collections.ConfigDict) -> list[str]:
  src, tgt = source.model.to_dict(), target.model.to_dict()
  return [f"model.{k}: source {src.get(k)!r} vs target {tgt.get(k)!r}"
          for k in sorted(set(src) | set(tgt))
          if src.get(k) != tgt.get(k) and k not in _NOT_ARCHITECTURE]


def _check(plan: Plan, source: Source, config: ml_collections.ConfigDict) -> None:
  if not plan.errors:
    return
  lines = plan.errors[:_MAX_LISTED]
  if len(plan.errors) > _MAX_LISTED:
    lines.append(f"... and {len(plan.errors) - _MAX_LISTED} more")
  diffs = _model_differences(source.config, config)
  raise ValueError(
      f"init_from={source.spec} does not fit this model: {len(plan.errors)} param(s) "
      "differ:\n  " + "\n  ".join(lines) +
      ("\nmodel config differences:\n  " + "\n  ".join(diffs) if diffs else "") +
      f"\nSet the model.* keys to the source's ({source.workdir}/config.json) or start "
      "from a compatible run.")


def _source_param_metadata(directory: str) -> dict[Path, Any]:
  metadata = ocp.Checkpointer(ocp.PyTreeCheckpointHandler()).metadata(directory)
  tree = getattr(metadata, "item_metadata", metadata)
  tree = getattr(tree, "tree", tree)
  return _flat(tree["params"])


def _plan_for(exp: experiment_lib.Experiment) -> tuple[Source, str, Plan]:
  source = resolve(exp.config.init_from)
  directory = os.path.join(source.workdir, "checkpoints", str(source.step), "state")
  plan = make_plan(_source_param_metadata(directory), _flat(exp.abstract_state.params),
                   source.config.objective, exp.config.objective,
                   (source.config.model.vocab_size, exp.config.model.vocab_size))
  return source, directory, plan


def summary(exp: experiment_lib.Experiment) -> Optional[Plan]:
  """The plan load_into follows for this experiment (None without init_from)."""
  return _plan_for(exp)[2] if exp.config.init_from else None


def load_into(exp: experiment_lib.Experiment, state: TrainState) -> TrainState:
  """A freshly initialised state with the pretrained params of config.init_from filled in.

  The optimizer state is re-initialised for the new params; step and RNG stay fresh.
  """
  if not exp.config.init_from:
    return state
  source, directory, plan = _plan_for(exp)
  _check(plan, source, exp.config)
  targets = _flat(exp.abstract_state.params)
  shardings = _flat(exp.shardings.params)
  sources = _source_param_metadata(directory)
  replicated = jax.sharding.NamedSharding(exp.mesh, jax.sharding.PartitionSpec())
  item = {"params": traverse_util.unflatten_dict({
      **{src: jax.ShapeDtypeStruct(targets[tgt].shape, targets[tgt].dtype,
                                   sharding=shardings[tgt])
         for tgt, src in plan.copied.items()},
      **{src: jax.ShapeDtypeStruct(sources[src].shape, sources[src].dtype,
                                   sharding=replicated)
         for src in plan.grown.values()}})}
  restored = ocp.Checkpointer(ocp.PyTreeCheckpointHandler()).restore(
      directory, args=ocp.args.PyTreeRestore(
          item, restore_args=ocp.checkpoint_utils.construct_restore_args(item),
          partial_restore=True))
  restored = _flat(restored["params"])
  fresh = _flat(state.params)
  for tgt, src in plan.grown.items():  # the source's rows, then the fresh new ones
    old = restored.pop(src)
    fresh[tgt] = jax.device_put(
        fresh[tgt].at[tuple(slice(0, n) for n in old.shape)].set(old), shardings[tgt])
  params = jax.tree_util.tree_unflatten(
      jax.tree.structure(state.params),
      [restored[plan.copied[p]] if p in plan.copied else fresh[p] for p in fresh])
  opt_state = jax.jit(exp.tx.init, out_shardings=exp.shardings.opt_state)(params)
  logging.info("init_from %s: %d params copied, vocabulary grown %s, fresh heads %s, "
               "dropped %s", source.spec, len(plan.copied), [_name(p) for p in plan.grown],
               [_name(p) for p in plan.fresh], [_name(p) for p in plan.dropped])
  return state.replace(params=params, opt_state=opt_state)
