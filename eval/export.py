"""Export a trained LM as serialized StableHLO (`jax.export`) + params + tokenizer, and run it.

  python -m eval.export --workdir=/tmp/run --out=/tmp/run/export          # write
  python -m eval.export --load=/tmp/run/export --prompt="def main(" --max_new_tokens=50

The directory holds the two functions generation needs (eval/sampling.py's DecodeFns),
each exported with a symbolic batch size `b`, prompt length `p` and cache length `l`
(p <= l <= max_len):
  prefill.jax   (params, tokens[b,p], positions[b,p], cache_mask[b,l]) -> (logits[b,V], cache)
  step.jax      (params, cache, token[b,1], positions[b,1], cache_mask[b,l]) -> (logits, cache)
  params.npz    the param leaves in the functions' order
  tokenizer/    the run's tokenizer (data/tokenizers.py)
  manifest.json max_len, vocab_size, special ids, platforms, and the sha256 of every file
`load(directory)` checks the manifest and hashes (a corrupted or partial export is a
ValueError naming the file) and generates with the same KV-cache loop as the live model,
without importing model/.
"""
from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from typing import Any, Optional, Sequence

import jax
import numpy as np
from absl import app
from absl import flags
from absl import logging

from train import cli

from eval import sampling

FORMAT_VERSION = 1
_FILES = ("prefill.jax", "step.jax", "params.npz")
_MANIFEST = "manifest.json"


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def export_model(model: Any, params: Any, tokenizer: Any, out: str, *,
                 platforms: Optional[Sequence[str]] = None,
                 start_with_eos: bool = True) -> str:
  """Write `model` (a Linen decoder with the KV cache) + params + tokenizer to `out`.

  start_with_eos: text prompts start with EOS (runs trained with data.add_eos do).

  The directory is written next to `out` and renamed into place, so a crash leaves no
  half-written export under that name.
  """
  from jax import export as jax_export

  cfg = model.cfg
  max_len, vocab = cfg.max_len, cfg.vocab_size
  leaves, treedef = jax.tree.flatten(jax.device_get(params))
  fns = sampling.model_fns(model)
  unflat = lambda ls: jax.tree.unflatten(treedef, ls)
  b, p, l = jax_export.symbolic_shape(
      "b, p, l", constraints=["p <= l", f"l <= {max_len}"])
  i32 = np.int32
  leaf_specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
  kw = {} if not platforms else {"platforms": tuple(platforms)}
  prefill = jax_export.export(
      jax.jit(lambda ls, *a: fns.prefill(unflat(ls), *a)), **kw)(
          leaf_specs, jax.ShapeDtypeStruct((b, p), i32), jax.ShapeDtypeStruct((b, p), i32),
          jax.ShapeDtypeStruct((b, l), np.bool_))
  # The step has no prompt length: its own scope, the cache's dims renamed into it.
  b, l = jax_export.symbolic_shape("b, l", constraints=[f"l <= {max_len}"])
  rename = {"b": b, "l": l}
  cache_spec = jax.tree.unflatten(
      prefill.out_tree.children()[1],
      [jax.ShapeDtypeStruct(tuple(d if isinstance(d, int) else rename[str(d)]
                                  for d in a.shape), a.dtype)
       for a in prefill.out_avals[1:]])
  step = jax_export.export(
      jax.jit(lambda ls, *a: fns.step(unflat(ls), *a)), **kw)(
          leaf_specs, cache_spec, jax.ShapeDtypeStruct((b, 1), i32),
          jax.ShapeDtypeStruct((b, 1), i32), jax.ShapeDtypeStruct((b, l), np.bool_))

  out = os.path.abspath(out)
  parent = os.path.dirname(out)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(prefix=".export.tmp-", dir=parent)
  with open(os.path.join(staging, "prefill.jax"), "wb") as f:
    f.write(prefill.serialize())
  with open(os.path.join(staging, "step.jax"), "wb") as f:
    f.write(step.serialize())
  np.savez(os.path.join(staging, "params.npz"), *[np.asarray(x) for x in leaves])
  tokenizer.save(os.path.join(staging, "tokenizer"))
  manifest = dict(
      format_version=FORMAT_VERSION, max_len=max_len, vocab_size=vocab,
      num_params=len(leaves), eos_id=tokenizer.eos_id, pad_id=tokenizer.pad_id,
      end_id=getattr(tokenizer, "end_id", None), platforms=list(prefill.platforms),
      start_with_eos=bool(start_with_eos),
      sha256={name: _sha256(os.path.join(staging, name)) for name in _FILES})
  with open(os.path.join(staging, _MANIFEST), "w") as f:
    json.dump(manifest, f, indent=1)
  if os.path.exists(out):
    shutil.rmtree(out)
  os.rename(staging, out)
  return out


def export_workdir(workdir: str, out: str, step: Optional[int] = None,
                   platforms: Optional[Sequence[str]] = None) -> str:
  """Export checkpoint `step` (default latest) of a trained run."""
  from eval import restore as restore_lib  # the loader below must not need model/

  restored = restore_lib.restore_params(workdir, step)
  exp = restored.exp
  if "decode" not in inspect.signature(type(exp.model).__call__).parameters:
    raise ValueError(f"{workdir}: only decoder LMs with a KV cache export "
                     f"(model.family='gpt'), not {exp.config.model.family!r}")
  return export_model(exp.model, restored.params, exp.tokenizer, out, platforms=platforms,
                      start_with_eos=exp.config.data.add_eos)


@dataclasses.dataclass
class ExportedLM:
  """A loaded export: DecodeFns over the deserialized functions, params and tokenizer."""
  fns: sampling.DecodeFns
  params: list
  tokenizer: Any
  manifest: dict

  def generate(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
               rng: jax.Array, settings: sampling.Settings = sampling.Settings(),
               stop_sequences: Sequence[Sequence[int]] = ()) -> list[list[int]]:
    """New tokens of each prompt (the live model's decode_tokens; stops at EOS too)."""
    stops = list(stop_sequences) + [[self.manifest["eos_id"]]]
    return sampling.decode_tokens(
        self.fns, self.params, prompts, max_new_tokens=max_new_tokens,
        max_len=self.manifest["max_len"], vocab_size=self.manifest["vocab_size"], rng=rng,
        settings=settings, stop_sequences=stops)

  def generate_text(self, prompt: str, *, max_new_tokens: int, seed: int = 0,
                    settings: sampling.Settings = sampling.Settings()) -> str:
    ids = self.tokenizer.encode(prompt) if prompt else []
    if self.manifest["start_with_eos"] or not ids:  # as eval/sampling.generate_text
      ids = [self.tokenizer.eos_id] + ids
    out = self.generate([ids], max_new_tokens=max_new_tokens,
                        rng=jax.random.PRNGKey(seed), settings=settings)[0]
    return self.tokenizer.decode(out)


def load(directory: str) -> ExportedLM:
  """An export written by export_model; ValueError naming what is missing or corrupted."""
  from jax import export as jax_export

  from data import tokenizers

  redo = f"re-export it: python -m eval.export --workdir=RUN --out={directory}"
  path = os.path.join(directory, _MANIFEST)
  if not os.path.isfile(path):
    raise ValueError(f"{directory} is not an attnlab export: no {_MANIFEST}; {redo}")
  try:
    with open(path) as f:
      manifest = json.load(f)
    hashes = manifest["sha256"]
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path} is corrupted ({e}); {redo}") from None
  if manifest.get("format_version") != FORMAT_VERSION:
    raise ValueError(f"{path}: format_version {manifest.get('format_version')} is not "
                     f"{FORMAT_VERSION}; {redo}")
  for name in _FILES:
    file = os.path.join(directory, name)
    if not os.path.isfile(file):
      raise ValueError(f"{directory} is missing {name}; {redo}")
    if _sha256(file) != hashes.get(name):
      raise ValueError(f"{file} is corrupted (sha256 differs from {_MANIFEST}); {redo}")
  functions = []
  for name in ("prefill.jax", "step.jax"):
    with open(os.path.join(directory, name), "rb") as f:
      functions.append(jax_export.deserialize(bytearray(f.read())))
  with np.load(os.path.join(directory, "params.npz")) as z:
    params = [z[f"arr_{i}"] for i in range(manifest["num_params"])]
  prefill, step = functions
  fns = sampling.DecodeFns(prefill=prefill.call, step=step.call)
  tokenizer = tokenizers.load_tokenizer(os.path.join(directory, "tokenizer"))
  return ExportedLM(fns=fns, params=params, tokenizer=tokenizer, manifest=manifest)


def _define_flags() -> None:
  """Flags only when run as a program (tests import this module beside other entry files)."""
  flags.DEFINE_string("workdir", None, "A trained run's workdir to export.")
  flags.DEFINE_string("out", None, "Directory to write the export to.")
  flags.DEFINE_integer("step", None, "Checkpoint step; default the latest.")
  flags.DEFINE_string("platforms", "", "Comma-separated (cpu,cuda,tpu); default this one.")
  flags.DEFINE_string("load", None, "An export directory to generate from instead.")
  flags.DEFINE_string("prompt", "", "--load: text to continue.")
  flags.DEFINE_integer("max_new_tokens", 100, "--load: tokens to add.")
  flags.DEFINE_enum("strategy", "greedy", list(sampling.STRATEGIES), "--load: strategy.")
  flags.DEFINE_float("temperature", 0.8, "--load: softmax temperature.")
  flags.DEFINE_integer("top_k", 40, "--load: top_k.")
  flags.DEFINE_float("top_p", 0.9, "--load: top_p.")
  flags.DEFINE_integer("seed", 0, "--load: sampling seed.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:  # library INFO logs drown the output
    logging.set_verbosity(logging.ERROR)
  f = flags.FLAGS
  if f.load:
    lm = load(f.load)
    t, k, p = sampling.strategy_settings(f.strategy, f.temperature, f.top_k, f.top_p)
    text = lm.generate_text(f.prompt, max_new_tokens=f.max_new_tokens, seed=f.seed,
                            settings=sampling.Settings(t, k, p))
    print(f"{f.prompt}{text}")
    return
  if not f.workdir or not f.out:
    raise app.UsageError("give --workdir=RUN --out=DIR to export, or --load=DIR to run one")
  platforms = [s for s in f.platforms.split(",") if s] or None
  out = export_workdir(f.workdir, f.out, f.step, platforms)
  print(f"exported {f.workdir} to {out}: {', '.join(sorted(os.listdir(out)))}")


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
