"""Drawing: a PDF page as a PNG image, PDFium run in a child process under limits.

A page that reads fine for its text may still explode when drawn (an image that inflates to
gigabytes, a content stream that loops): PDFium draws in one child process limited to
DRAW_MEMORY of address space and DRAW_SECONDS a call, so such a page is a PageDrawError and
never the server's end. ~70 CPU-ms and ~100 MB are usual for a page at 150 dpi.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import resource
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, TimeoutError
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

import numpy as np
import pypdfium2 as pdfium

from qa.errors import DocumentNotFoundError, PageDrawError
from qa.readers.pdf import _PDFIUM

DPI = 150  # what a page is drawn at: text reads well on a screen, ~300 KB per printed page
# A page is drawn with at most this many pixels (a poster-sized page is drawn smaller), so
# one page never costs more than ~50 MB of bitmap.
MAX_PIXELS = 12_000_000
DRAW_SECONDS = 20.0
DRAW_MEMORY = 1536 * 1024 * 1024
T = TypeVar("T")


class Drawer:
    """Runs PDFium's page drawing in a child process limited to DRAW_MEMORY of address space
    and DRAW_SECONDS a call; one that breaks a limit or crashes is replaced for the next call."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.lock = threading.Lock()

    def run(self, function: Callable[..., T], *args: object) -> T:
        with self.lock:
            if self.pool is None:
                # forkserver: a fresh process, not a fork of this threaded server.
                context = multiprocessing.get_context("forkserver")
                self.pool = ProcessPoolExecutor(1, context, initializer=_limit_memory)
            pool = self.pool
        try:
            return pool.submit(function, *args).result(timeout=DRAW_SECONDS)
        except TimeoutError:
            self._replace(pool)
            raise PageDrawError(f"the page took over {DRAW_SECONDS:g} s to draw") from None
        except (BrokenProcessPool, MemoryError):  # PDFium aborts when memory runs out
            self._replace(pool)
            limit = DRAW_MEMORY // (1024 * 1024)
            raise PageDrawError(f"the page cannot be drawn within {limit:,} MB") from None

    def _replace(self, pool: ProcessPoolExecutor) -> None:
        with self.lock:
            if self.pool is pool:
                self.pool = None
        # The executor cannot stop a running call: its process is killed (Python 3.14 has
        # ProcessPoolExecutor.kill_workers for this).
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (DRAW_MEMORY, DRAW_MEMORY))


DRAWER = Drawer()  # one child process for the whole server


def page_sizes(data: bytes) -> tuple[tuple[float, float, int], ...]:
    """Width and height (points) of every page of a PDF as shown, and how far it is turned
    (0, 90, 180 or 270 degrees)."""
    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            sizes = []
            for i in range(len(pdf)):
                page = pdf[i]
                sizes.append((page.get_width(), page.get_height(), page.get_rotation()))
                page.close()
            return tuple(sizes)
        finally:
            pdf.close()


def render(data: bytes, page: int, dpi: int = DPI) -> bytes:
    """Page `page` (1-based) of a PDF as PNG at `dpi` (less for a page too large to draw)."""
    with _PDFIUM:
        pdf = pdfium.PdfDocument(data)
        try:
            if not 1 <= page <= len(pdf):
                raise DocumentNotFoundError(f"the document has no page {page}")
            width, height = pdf.get_page_size(page - 1)
            scale = min(dpi / 72, math.sqrt(MAX_PIXELS / max(1.0, width * height)))
            handle = pdf[page - 1]
            try:
                image = handle.render(scale=scale).to_pil()
            finally:
                handle.close()
        finally:
            pdf.close()
    pixels = np.asarray(image)
    if pixels.ndim == 3 and not (pixels[..., 1:] != pixels[..., :1]).any():
        image = image.convert("L")  # a page in black and white: ~60 % of the bytes, 2x faster
    out = io.BytesIO()
    # Level 3: about the size of level 6 for printed pages, in ~2/3 of the time.
    image.save(out, "PNG", compress_level=3)
    return out.getvalue()
