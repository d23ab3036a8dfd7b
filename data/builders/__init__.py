"""Project TFDS builders for local corpora; importing registers them with TFDS."""
from data.builders.common import prepare, resolve_data_dir
from data.builders.dialogues import DialogueFiles, dialogue_files_builder
from data.builders.parallel_text import ParallelText, parallel_text_builder
from data.builders.python_stdlib import PythonStdlib
from data.builders.synthetic import Synthetic, synthetic_builder
from data.builders.text_files import TextFiles, text_files_builder

__all__ = [
    "DialogueFiles",
    "dialogue_files_builder",
    "ParallelText",
    "Synthetic",
    "parallel_text_builder",
    "synthetic_builder",
    "PythonStdlib",
    "TextFiles",
    "prepare",
    "resolve_data_dir",
    "text_files_builder",
]
