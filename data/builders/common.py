"""Helpers shared by the project builders: where data lives, and preparing once."""
import hashlib
import json
import os
import sys

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


class HashedConfig(tfds.core.BuilderConfig):
  """A config named by a hash of what defines its data (file paths, sizes and mtimes, or
  a generator's settings): changed inputs get a new name, so they are prepared afresh."""

  def __init__(self, spec: dict, prefix: str = "h", digits: int = 20):
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    super().__init__(name=f"{prefix}{digest[:digits]}", description=json.dumps(spec))


class LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Base of the project builders: local data, so no URL checksums to look up.

  TFDS 4.9.10 finds a builder's checksums file through `importlib_resources`, which
  it does not install on Python >= 3.9 (tensorflow/datasets#11212); with nothing to
  download we skip that look-up instead of needing the extra package.
  Subclasses give FEATURES (name -> tfds feature); records keep their generated order
  unless KEEP_ORDER is False.
  """

  url_infos = None
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  FEATURES: dict = {}
  KEEP_ORDER = True  # integer keys + disable_shuffling: records stay in generated order

  def _info(self) -> tfds.core.DatasetInfo:
    return _LocalInfo(builder=self, features=tfds.features.FeaturesDict(self.FEATURES),
                      description=sys.modules[type(self).__module__].__doc__,
                      disable_shuffling=self.KEEP_ORDER)


class _LocalInfo(tfds.core.DatasetInfo):
  """A project dataset's info: never in TFDS's GCS bucket, so an unprepared builder does
  not look there (TFDS 4.9.10 makes a temporary directory before it checks, and leaves it
  behind: one empty /tmp/tmp*tfds per builder constructed)."""

  def initialize_from_bucket(self) -> None:
    pass
