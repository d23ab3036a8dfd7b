"""Project TFDS builders for local corpora; importing registers them with TFDS."""
from data.builders.common import prepare, resolve_data_dir
from data.builders.python_stdlib import PythonStdlib
from data.builders.text_files import TextFiles, text_files_builder

__all__ = [
    "PythonStdlib",
    "TextFiles",
    "prepare",
    "resolve_data_dir",
    "text_files_builder",
]
