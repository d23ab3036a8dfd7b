"""Data for attnlab: tokenizers, TFDS sources and the Grain pipelines."""
from data.pipeline import check_config, make_lm_dataset, make_mlm_dataset, make_pair_dataset
from data.sources import check_encodable, get_source, iter_texts
from data.tokenizers import build_tokenizer, load_tokenizer

__all__ = [
    "build_tokenizer",
    "check_config",
    "check_encodable",
    "get_source",
    "iter_texts",
    "load_tokenizer",
    "make_lm_dataset",
    "make_mlm_dataset",
    "make_pair_dataset",
]
