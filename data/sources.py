"""Random-access text sources: the project builders, or any prepared TFDS dataset.

Everything is read with TFDS's array_record data sources, which need no TensorFlow.
"""
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import tensorflow_datasets as tfds

from data import builders
from data import labelled_files
from data import tokenizers

_LOCAL_LABELLED = labelled_files.LOCAL_FORMATS  # GLUE TSV, CoNLL
_PROJECT_DATASETS = ("python_stdlib", "text_files", "synthetic", "parallel_text",
                     "dialogue_files")
_PAIR_DATASETS = ("synthetic", "parallel_text")  # records {"source", "target"}
_LISTED = 20  # unknown characters named in an error


def text_key(cfg) -> str:
  """Feature holding the text: 'text' in our builders, cfg.text_key otherwise."""
  if cfg.dataset == "dialogue_files":
    return "turns"  # a list of utterances (data/chat.py)
  if cfg.dataset in _PROJECT_DATASETS + _LOCAL_LABELLED:
    return "text"
  return cfg.text_key


def pair_keys(cfg) -> tuple[str, str] | None:
  """(source, target) features of a sequence-to-sequence dataset, else None.

  Our synthetic/parallel_text builders use "source"/"target"; a TFDS translation
  dataset (e.g. wmt14_translate/de-en) names them by language: data.source_lang/target_lang.
  """
  if cfg.dataset in _PAIR_DATASETS:
    return "source", "target"
  if cfg.source_lang and cfg.target_lang:
    return cfg.source_lang, cfg.target_lang
  return None


def record_text(record: Mapping[str, Any], key: str = "text") -> str:
  """The text of one record; TFDS gives Text features back as UTF-8 bytes."""
  try:
    value = record[key]
  except KeyError:
    raise ValueError(
        f"Records have no feature {key!r} (they have {sorted(record)}); "
        "set config.data.text_key to the feature that holds the text."
    ) from None
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) == 1:  # e.g. dialogue turns
    return "\n".join(record_text({key: v}, key) for v in value)
  if hasattr(value, "item"):  # A numpy scalar.
    return record_text({key: value.item()}, key)
  return str(value)


def _project_builder(cfg, data_dir: str) -> Any:
  if cfg.dataset == "python_stdlib":
    return builders.prepare(builders.PythonStdlib(data_dir=data_dir))
  if cfg.dataset == "synthetic":
    return builders.prepare(builders.synthetic_builder(cfg, data_dir))
  if cfg.dataset == "parallel_text":
    return builders.prepare(builders.parallel_text_builder(cfg, data_dir))
  if cfg.dataset == "dialogue_files":
    return builders.prepare(builders.dialogue_files_builder(cfg.files, data_dir))
  fixed = {split: cfg[f"{split}_files"] for split in builders.text_files.FIXED_SPLITS}
  return builders.prepare(
      builders.text_files_builder(cfg.files, cfg.val_fraction, data_dir, fixed))


def _catalog_builder(name: str, data_dir: str) -> Any:
  """A TFDS catalog builder whose data is already prepared as array_record."""
  fix = (
      f"Prepare it once with `tfds build {name} --file_format=array_record "
      f"--data_dir={data_dir}` (or convert existing TFRecord data with "
      f"`tfds convert_format`), or use dataset='text_files' for local text."
  )
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError:
    raise ValueError(
        f"Unknown dataset {name!r}: not 'python_stdlib', 'text_files' or a TFDS "
        f"catalog name (data_dir searched: {data_dir}). {fix}"
    ) from None
  if not builder.is_prepared():
    raise ValueError(f"Dataset {name!r} is not prepared in {data_dir}. {fix}")
  if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
    raise ValueError(
        f"Dataset {name!r} in {data_dir} is stored as {builder.info.file_format.value}, "
        f"but random access (no TensorFlow) needs array_record. {fix}"
    )
  return builder


def get_source(cfg, split: str) -> Sequence[Mapping[str, Any]]:
  """Random-access records of `split` (len() and [i]); cfg is config.data.

  python_stdlib and text_files are prepared on first use; catalog datasets must
  already be prepared as array_record in the data_dir.
  """
  if cfg.dataset in _LOCAL_LABELLED:  # parsed in memory; errors name file and line
    return labelled_files.local_source(cfg, split)
  data_dir = builders.resolve_data_dir(cfg.data_dir)
  if cfg.dataset in _PROJECT_DATASETS:
    builder = _project_builder(cfg, data_dir)
  else:
    builder = _catalog_builder(cfg.dataset, data_dir)
  splits = sorted(builder.info.splits.keys())
  if split.split("[")[0] not in splits:
    raise ValueError(f"Dataset {cfg.dataset!r} has no split {split!r}; it has {splits}.")
  return builder.as_data_source(split)


def check_encodable(cfg, tokenizer: Any, split: str) -> None:
  """ValueError, before training, if a char tokenizer cannot encode `split` (evaluation
  would otherwise stop on the first unseen character after training)."""
  missing = tokenizers.unknown_chars(tokenizer, lambda: iter_texts(cfg, split))
  if not missing:
    return
  where = (f"data.files={cfg.files!r} (the last data.val_fraction={cfg.val_fraction} of "
           "each file)" if cfg.dataset == "text_files" and split == "validation"
           else f"data.dataset={cfg.dataset!r}")
  listed = f"{list(missing[:_LISTED])}{' ...' if len(missing) > _LISTED else ''}"
  raise ValueError(
      f"the {split!r} split of {where} has characters the char tokenizer has no id for: "
      f"{listed} ({len(missing)} in all); its vocabulary is the characters of the "
      f"{cfg.train_split!r} split it was trained on, so use more text, or "
      "data.tokenizer='byte' (encodes any text)")


def iter_texts(cfg, split: str) -> Iterator[str]:
  """The texts of a split in stored order (e.g. to train a tokenizer).

  Sequence-to-sequence records give their source and then their target text, so one
  vocabulary is trained on both sides.
  """
  source = get_source(cfg, split)
  keys = pair_keys(cfg) or (text_key(cfg),)
  for i in range(len(source)):
    record = source[i]
    for key in keys:
      yield record_text(record, key)
