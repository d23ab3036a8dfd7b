"""Helpers shared by the project builders: where data lives, and preparing once."""
import os

import tensorflow_datasets as tfds

# Files are written as array_record so `as_data_source` gives random access without TF.
FILE_FORMAT = "array_record"


def resolve_data_dir(data_dir: str | None) -> str:
  """cfg.data_dir if set, else $TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own order)."""
  if data_dir:
    return os.path.abspath(os.path.expanduser(data_dir))
  env = os.environ.get("TFDS_DATA_DIR")
  if env:
    return os.path.abspath(os.path.expanduser(env))
  return os.path.expanduser("~/tensorflow_datasets")


def prepare(builder: tfds.core.DatasetBuilder) -> tfds.core.DatasetBuilder:
  """Prepares `builder` as array_record unless a finished copy already exists.

  TFDS writes into a temporary directory and renames it when done, so a crash
  mid-prepare leaves nothing that looks finished.
  """
  if not builder.is_prepared():
    builder.download_and_prepare(file_format=FILE_FORMAT)
  return builder


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the project builders: local data, so no URL checksums to look up.

  TFDS 4.9.10 finds a builder's checksums file through `importlib_resources`, which
  it does not install on Python >= 3.9 (tensorflow/datasets#11212); with nothing to
  download we skip that look-up instead of needing the extra package.
  """

  url_infos = None
