"""Data for attnlab: tokenizers, TFDS sources and the Grain LM pipeline."""
from data.pipeline import make_lm_dataset
from data.sources import get_source, iter_texts
from data.tokenizers import build_tokenizer, load_tokenizer

__all__ = [
    "build_tokenizer",
    "get_source",
    "iter_texts",
    "load_tokenizer",
    "make_lm_dataset",
]
