"""OCR: the printed lines of a page image, read offline, as layout runs.

rapidocr (Apache-2.0) runs PaddleOCR's PP-OCRv6 detection and recognition models on ONNX
Runtime; the models ship inside its wheel and are named here by path, so nothing is ever
downloaded. Each detected line is recognized on its own: batches pad their lines to one width,
which cost twice the CPU and dropped word spaces. The 180-degree line classifier is off (it
turns upright English lines over); a page scanned sideways or upside down is found at page level
instead, only when its lines stand up or read poorly, by reading a few lines of each quarter
turn. A slightly turned page is straightened by turning the line boxes back by its median skew.
The boxes of a page that was turned are those of the upright page.

Lines become `Run`s (page coordinates in points from the top-left, glyph height as the type
size), so scanned pages go through the same paragraph rules as text PDFs (qa/readers/layout.py).
What a page image reads as is cached by the hash of its pixels (in QA_CACHE's ocr/ folder): no
page is read twice. A page stops being read after QA_OCR_PAGE_SECONDS (its last lines are then
missing, and the document's note says so).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from time import thread_time
from typing import Any

import numpy as np

from qa.readers.blocks import UnreadableError
from qa.readers.layout import HEADING_RATIO, Run, body_size

RECIPE = "rapidocr-3/PP-OCRv6-small/det960/1"  # what a cached reading depends on
DETECT_SIDE = 960  # the longest side a page is detected at (lines are recognized at full size)
MIN_SCORE = 0.5  # a line recognized with less confidence is noise (a smudge, a picture)
# A line whose box is up to this much smaller or larger than the body's is of the body's type
SMALL, LARGE, LARGE_SHORT = 0.6, 1.2, 1.05
WIDE = 1.4  # characters this much wider than the body's (on average) are in larger type
STEP = 1.15  # sizes of larger type within this ratio of each other are one size
EDGE = 0.25  # line ends this close (over the type size) are taken as one right edge
SAMPLE = 6  # lines read to judge how a page is turned
UPRIGHT = 0.85  # a page read with this mean confidence is upright: no turned page is tried
# A detected line: its corners (4 x 2, clockwise from top-left, pixels), text, confidence.
Found = tuple[list[list[float]], str, float]

# Told (pages read, pages to read) of the file being read after each page: progress.
on_page: Callable[[int, int], None] | None = None

_engine: Any = None
_engine_lock = threading.Lock()  # one engine per process, made on first use


def _rapidocr() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                import rapidocr
            except ImportError as e:  # the [ocr] extra is not installed
                raise UnreadableError(f"needs OCR, which is not installed ({e})") from e
            models = Path(rapidocr.__file__).parent / "models"
            det, rec = models / "PP-OCRv6_det_small.onnx", models / "PP-OCRv6_rec_small.onnx"
            if not (det.is_file() and rec.is_file()):  # never let rapidocr download them
                raise UnreadableError(f"needs OCR, whose models are missing from {models}")
            _engine = rapidocr.RapidOCR(
                params={
                    "Global.use_cls": False,
                    "Global.log_level": "warning",
                    "Global.max_side_len": 1_000_000,  # lines are cropped from the full page
                    "Det.model_path": str(det),
                    "Det.limit_type": "max",
                    "Det.limit_side_len": DETECT_SIDE,
                    "Rec.model_path": str(rec),
                    "Rec.rec_batch_num": 1,
                    # One core per page: documents are read in parallel, one per core.
                    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
            # Sessions of our own, without ONNX Runtime's memory patterns: it keeps one per
            # input shape, and every line is a shape of its own (the address space grew ~15 MB
            # a page, past a worker's limit within a long scan; flat without them).
            _engine._load_det_model().session.session = _session(det)
            _engine._load_rec_model().session.session = _session(rec)
        return _engine


def _session(model: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_mem_pattern = options.enable_cpu_mem_arena = False
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def _options() -> tuple[Path, float]:
    """(cache folder, seconds a page may take) from the settings (QA_CACHE,
    QA_OCR_PAGE_SECONDS): read where the reader runs, a worker process included."""
    from qa.embedder import default_cache
    from qa.settings import Settings

    settings = Settings.load()
    return Path(settings.cache or default_cache()) / "ocr", settings.ocr_page_seconds


def read_pages(
    images: Iterable[tuple[int, np.ndarray, float]], count: int, body: float | None = None
) -> tuple[dict[int, list[Run]], str]:
    """The runs of each page image (page number, 8-bit grey pixels, points per pixel) of a
    file, `count` of them, told to `on_page` as they are read; and the document's note.
    `body`: the type size of the body on the file's other pages (its text layer), which the
    body of the scanned pages is taken to be."""
    runs: dict[int, list[Run]] = {}
    cut = []
    for done, (page, gray, scale) in enumerate(images, 1):
        runs[page], complete = page_runs(gray, page, scale)
        if not complete:
            cut.append(page)
        if on_page is not None:
            on_page(done, count)
    _even_sizes([r for page in runs.values() for r in page], body)
    note = f"text of {_pages(list(runs))} read by OCR"
    if cut:
        note += f"; {_pages(cut)} took longer than QA_OCR_PAGE_SECONDS: its last lines are missing"
    return runs, note


def _even_sizes(runs: list[Run], target: float | None) -> None:
    """The body's type size for every line near it (`target`'s, if given, the others scaled
    alike). A line's box is only an estimate of its type: its height varies with the letters
    on it (and a short line's is smaller), where a text PDF's glyphs of one font all have one
    height. Larger type, a heading's, stays apart."""
    body = body_size(runs)
    factor = (target or body) / body
    widths = [(r.x1 - r.x0) / len(r.text) for r in runs if len(r.text) >= 40]
    width = float(np.median(widths)) if widths else 0.0  # of a character of the body
    larger: list[Run] = []
    for run in runs:
        # A short line's box is smaller than a long one's of the same type: one as tall as the
        # body's is in larger type already; so is one whose characters are much wider.
        large = LARGE if run.x1 - run.x0 >= 8 * run.size else LARGE_SHORT
        wide = len(run.text) >= 4 and (run.x1 - run.x0) / len(run.text) >= WIDE * width
        if wide or run.size >= large * body:
            larger.append(run)
            run.size = max(run.size, HEADING_RATIO * body)
        elif run.size >= SMALL * body:
            run.size = body
    # Larger type comes in a few sizes (a title's, a heading's): sizes within a step are one.
    group: list[Run] = []
    for run in sorted(larger, key=lambda r: r.size) + [None]:
        if group and (run is None or run.size > STEP * group[0].size):
            middle = float(np.median([r.size for r in group]))
            for member in group:
                member.size = middle
            group = []
        if run is not None:
            group.append(run)
    for run in runs:
        run.size *= factor


def _pages(numbers: list[int]) -> str:
    """'page 3', 'pages 1-4, 7'."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][-1] + 1:
            spans[-1][1:] = [n]
        else:
            spans.append([n])
    words = ", ".join("-".join(map(str, span)) for span in spans)
    return ("page " if len(numbers) == 1 else "pages ") + words


def page_runs(gray: np.ndarray, page: int, scale: float) -> tuple[list[Run], bool]:
    """The printed lines of a page image (8-bit grey, rows x columns) as runs in points
    (`scale`: points per pixel), and whether the whole page was read within its time."""
    cache, seconds = _options()
    key = hashlib.sha256(f"{RECIPE}:{gray.shape}".encode() + gray.tobytes()).hexdigest()
    path = cache / key[:2] / f"{key}.json"
    try:
        found, turns = _load(path)
        complete = True
    except (OSError, ValueError, KeyError, TypeError):
        found, turns, complete = _read(gray, thread_time() + seconds)
        if complete:
            _store(path, found, turns)
    height, width = gray.shape if turns % 2 == 0 else gray.shape[::-1]
    return _runs(found, page, scale, width, height), complete


def _load(path: Path) -> tuple[list[Found], int]:
    data = json.loads(path.read_text("utf-8"))
    return [(c, str(t), float(s)) for c, t, s in data["lines"]], int(data["turns"])


def _store(path: Path, found: list[Found], turns: int) -> None:
    """Keep a page's reading (best effort: a cache that cannot be written only costs time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"turns": turns, "lines": found}), "utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def _read(gray: np.ndarray, deadline: float) -> tuple[list[Found], int, bool]:
    """OCR of a page: its lines, the quarter turns (counter-clockwise) that made it upright,
    and whether it was read to its end before `deadline`."""
    engine = _rapidocr()
    image = np.repeat(gray[:, :, None], 3, axis=2)  # the models read colour pictures
    boxes = _detect(engine, image)
    sideways = _sideways(boxes)  # (then not worth reading as it is)
    found, complete, score = _recognize_all(engine, image, [] if sideways else boxes, deadline)
    if not boxes or (score >= UPRIGHT and not sideways):
        return found, 0, complete
    # A poor reading: try the page turned by a quarter, a half and three quarters, on a few
    # of its lines, and read it all again the best way if that is clearly better.
    best, turns, turned = 0.0 if sideways else score + 0.05, 0, image
    for k in (1, 2, 3):
        other = np.ascontiguousarray(np.rot90(image, k))
        lines = _detect(engine, other)
        sample = 0.0 if _sideways(lines) else _sample(engine, other, lines)
        if sample > best:
            best, turns, turned = sample, k, other
    if not turns:
        if sideways:  # no better way up: read as it is after all
            found, complete, _ = _recognize_all(engine, image, boxes, deadline)
        return found, 0, complete
    found, complete, _ = _recognize_all(engine, turned, _detect(engine, turned), deadline)
    return found, turns, complete


def _recognize_all(
    engine: Any, image: np.ndarray, boxes: list[np.ndarray], deadline: float
) -> tuple[list[Found], bool, float]:
    """The lines read in `boxes` (until `deadline`), whether all were, and the mean confidence
    of all of them."""
    found: list[Found] = []
    scores: list[float] = []
    for box in boxes:
        if thread_time() > deadline:
            return found, False, sum(scores) / max(1, len(scores))
        text, score = _recognize(engine, image, box)
        scores.append(score)
        if score >= MIN_SCORE and text:
            found.append((box.tolist(), text, score))
    return found, True, sum(scores) / max(1, len(scores))


def _detect(engine: Any, image: np.ndarray) -> list[np.ndarray]:
    result = engine(image, use_det=True, use_cls=False, use_rec=False)
    return [] if result.boxes is None else list(result.boxes.astype(np.float32))


def _recognize(engine: Any, image: np.ndarray, box: np.ndarray) -> tuple[str, float]:
    from rapidocr.utils.process_img import get_rotate_crop_image

    crop = get_rotate_crop_image(image, box.copy())
    result = engine(crop, use_det=False, use_cls=False, use_rec=True)
    if not result.txts:
        return "", 0.0
    return " ".join(result.txts[0].split()), float(result.scores[0])


def _sample(engine: Any, image: np.ndarray, boxes: list[np.ndarray]) -> float:
    """Mean confidence of a few of the page's widest lines (0 without any)."""
    widest = sorted(boxes, key=lambda b: -abs(b[1][0] - b[0][0]))[:SAMPLE]
    return sum(_recognize(engine, image, b)[1] for b in widest) / len(widest) if widest else 0.0


def _sideways(boxes: list[np.ndarray]) -> bool:
    """Most lines are taller than wide: a page lying on its side."""
    tall = sum(abs(b[3][1] - b[0][1]) > abs(b[1][0] - b[0][0]) for b in boxes)
    return tall > len(boxes) / 2


def _runs(found: list[Found], page: int, scale: float, width: int, height: int) -> list[Run]:
    """The lines as runs: their corners turned back by the page's median skew (about the
    page's centre), boxed, and scaled to points."""
    angles = [
        math.atan2(c[1][1] - c[0][1], c[1][0] - c[0][0]) for c, text, _ in found if len(text) >= 10
    ]
    skew = float(np.median(angles)) if angles else 0.0
    cos, sin = math.cos(-skew), math.sin(-skew)
    cx, cy = width / 2, height / 2
    runs = []
    for corners, text, _ in found:
        xs, ys = [], []
        for x, y in corners:
            xs.append(cx + (x - cx) * cos - (y - cy) * sin)
            ys.append(cy + (x - cx) * sin + (y - cy) * cos)
        x0, x1 = min(xs) * scale, max(xs) * scale
        # The line's own height, not its slanted box's: the glyph height of its type.
        size = (ys[3] + ys[2] - ys[0] - ys[1]) / 2 * scale
        middle = sum(ys) / 4 * scale
        first = text.split(" ", 1)[0]
        runs.append(
            Run(
                page=page,
                x0=x0,
                y0=middle - size / 2,
                x1=x1,
                y1=middle + size / 2,
                size=round(size, 1),
                bold=False,  # the models do not tell
                text=text,
                first_word=(x1 - x0) * len(first) / len(text),
            )
        )
    # OCR boxes ink, and a line's last glyph ends a little short of its type's box (a period
    # more than a letter): line ends close to each other (three at least) are one edge, the
    # farthest, as a justified column's are in a text PDF.
    ends = [[o.x1 for o in runs if abs(o.x1 - r.x1) <= EDGE * r.size] for r in runs]
    for run, near in zip(runs, ends):
        run.x1 = max(near) if len(near) >= 3 else run.x1
    return runs
