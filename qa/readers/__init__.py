"""Readers: one module per file format, each `read(data: bytes) -> Parsed`.

The registry maps a file suffix to its reader. Modules are imported on first use: a folder of
plain text never pays for the HTML or Word parsers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from qa.readers.blocks import Parsed

# suffix -> module of qa.readers that reads it
FORMATS = {
    ".txt": "txt",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}


def _reader(module: str) -> Callable[[bytes], Parsed]:
    def read(data: bytes) -> Parsed:
        return importlib.import_module(f"qa.readers.{module}").read(data)

    read.__name__ = f"read_{module}"
    return read


READERS: dict[str, Callable[[bytes], Parsed]] = {
    suffix: _reader(module) for suffix, module in FORMATS.items()
}
