"""OCR: scanned pages (a whole scanned PDF, one scanned page in a text PDF) and image files read
into the paragraphs of their text, offline, once per page image.

The scans are made in the test: text drawn with Pillow (wrapped as a printer wraps it), or a
small text PDF (pypdf) rasterised by PDFium and wrapped into an image-only PDF by Pillow. Each
page costs a few CPU-seconds of OCR, so they are few and small.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from qa import workers
from qa.documents import load_documents
from qa.paragraphs import split_paragraphs
from qa.readers import ocr
from tests.formats import make_pdf

ROOT = Path(__file__).resolve().parent.parent
SEALS = [
    "Harbour seals rest on sandbanks at low tide and hunt for herring and sand eels when the "
    "water rises again over the banks.",
    "A pup can swim within a few hours of its birth and is weaned after about four weeks.",
]


def page_image(title: str, paragraphs: list[str], header: str = "") -> Image.Image:
    """A printed page: a heading, paragraphs wrapped to the column, an optional running header
    at the top edge."""
    font, large = ImageFont.load_default(size=30), ImageFont.load_default(size=46)
    image = Image.new("L", (1240, 1000), 255)
    draw = ImageDraw.Draw(image)
    if header:
        draw.text((80, 30), header, font=ImageFont.load_default(size=22), fill=0)
    y = 110
    draw.text((80, y), title, font=large, fill=0)
    y += 90
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            if line and draw.textlength(f"{line} {word}", font=font) > 1080:
                draw.text((80, y), line, font=font, fill=0)
                y, line = y + 42, word
            else:
                line = f"{line} {word}".strip()
        draw.text((80, y), line, font=font, fill=0)
        y += 42 + 36
    return image


def encoded(image: Image.Image, format: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def scanned_pdf(pages: list[Image.Image]) -> bytes:
    """An image-only PDF (no text layer), as a scanner makes them: JPEG pages at 150 dpi."""
    return encoded(pages[0], "PDF", save_all=True, append_images=pages[1:], resolution=150)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache of OCR readings of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("QA_CACHE", str(folder))
    # Reading workers take the environment they start with: new ones for this test.
    monkeypatch.setattr(workers, "_shared", None)
    yield folder
    if workers._shared is not None:
        workers._shared.close()


def read_folder(folder: Path, files: dict[str, bytes]) -> dict:
    for name, data in files.items():
        (folder / name).write_bytes(data)
    documents, skipped = load_documents(folder)
    assert skipped == []
    return {d.id: d for d in documents}


def test_an_image_file_is_read_into_its_paragraphs_once(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    # Black ink on a transparent background, as screenshots are (all pixels black underneath).
    image = Image.new("RGBA", (1240, 1000), (0, 0, 0, 0))
    image.putalpha(ImageOps.invert(page_image("Harbour seals", SEALS)))
    (document,) = read_folder(folder, {"seals.png": encoded(image, "PNG")}).values()
    paragraphs = split_paragraphs(document)
    assert [(p.section, p.text, p.page) for p in paragraphs] == [
        ("Harbour seals", SEALS[0], None),
        ("Harbour seals", SEALS[1], None),
    ]
    assert document.note == "text of page 1 read by OCR"
    assert list(cache.glob("ocr/*/*.json")), "the reading was not cached"

    # The same picture again (under another name, as a JPEG of the same pixels would not be):
    # read from the cache, without running OCR.
    def no_ocr(*args: object) -> None:
        raise AssertionError("the page was read by OCR again")

    monkeypatch.setattr(ocr, "_read", no_ocr)
    (tmp_path / "other").mkdir()
    (again,) = read_folder(tmp_path / "other", {"copy.png": encoded(image, "PNG")}).values()
    assert again.text == document.text


def test_a_scanned_pdf_is_read_with_its_pages_and_without_its_running_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "Coastal Wildlife Survey - Field Notes"
    pages = [
        page_image("Harbour seals", SEALS, header),
        page_image("Grey herons", [HERON], header).rotate(0.6, fillcolor=255),
    ]
    told = []
    monkeypatch.setattr(workers, "on_page", lambda done, total: told.append((done, total)))
    folder = tmp_path / "docs"
    folder.mkdir()
    (document,) = read_folder(folder, {"survey.pdf": scanned_pdf(pages)}).values()
    paragraphs = split_paragraphs(document)
    assert [(p.section, p.text, p.page) for p in paragraphs] == [
        ("Harbour seals", SEALS[0], 1),
        ("Harbour seals", SEALS[1], 1),
        ("Grey herons", HERON, 2),
    ]
    assert "Coastal" not in document.text  # the running header is page furniture
    assert told == [(1, 2), (2, 2)]  # progress, page by page
    assert document.note == "text of pages 1-2 read by OCR"


HERON = (
    "A grey heron stands still in shallow water for a long time before it strikes at a fish, "
    "which it swallows whole."
)


def test_a_scanned_page_inside_a_text_pdf_is_read_in_its_place(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    text = PdfReader(io.BytesIO(make_pdf([["Seals haul out on the sand."], ["Herons nest."]])))
    scan = PdfReader(io.BytesIO(scanned_pdf([page_image("Herons", [HERON])])))
    writer = PdfWriter()
    for page in (text.pages[0], scan.pages[0], text.pages[1]):
        writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    folder = tmp_path / "docs"
    folder.mkdir()
    (document,) = read_folder(folder, {"mixed.pdf": out.getvalue()}).values()
    assert [(p.text, p.page) for p in split_paragraphs(document)] == [
        ("Seals haul out on the sand.", 1),
        (HERON, 2),
        ("Herons nest.", 3),
    ]
    assert document.note == "text of page 2 read by OCR"


def test_a_page_over_its_time_is_cut_said_so_and_not_cached(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.readers import image

    monkeypatch.setenv("QA_OCR_PAGE_SECONDS", "1")
    clock = iter([0.0, 0.5, 0.9] + [5.0] * 100)  # the third line is read after the page's time
    monkeypatch.setattr(ocr, "thread_time", clock.__next__)
    parsed = image.read(encoded(page_image("Harbour seals", SEALS), "PNG"))
    assert "page 1 took longer than QA_OCR_PAGE_SECONDS: its last lines are missing" in (
        parsed.note
    )
    assert [b.text for b in parsed.blocks][:1] == ["Harbour seals"]
    assert not list(cache.glob("ocr/*/*.json"))


def test_ocr_never_touches_the_network(tmp_path: Path) -> None:
    """A fresh process whose sockets refuse to connect reads a scan upside down (the engine made,
    the models loaded, the page turned and read) and a damaged image is a clear error."""
    (tmp_path / "page.jpg").write_bytes(
        encoded(page_image("Harbour seals", SEALS).rotate(180), "JPEG", quality=85)
    )
    script = textwrap.dedent(
        """
        import socket, sys
        from pathlib import Path

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        try:
            socket.create_connection(("127.0.0.1", 9))
        except OSError as e:
            assert "blocked" in str(e)
        from qa.readers import READERS
        from qa.readers.blocks import UnreadableError

        parsed = READERS[".jpg"](Path(sys.argv[1]).read_bytes())
        print("\\n".join(b.text for b in parsed.blocks))
        try:
            READERS[".png"](b"\\x89PNG not really")
        except UnreadableError as e:
            print("refused:", e)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "page.jpg")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "QA_CACHE": str(tmp_path / "c")},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "Harbour seals",
        *SEALS,
        "refused: not a readable image (damaged, or not PNG, JPEG or TIFF)",
    ]


def test_opencv_is_the_headless_build() -> None:
    """rapidocr's OpenCV is the build without GUI libraries (no libGL needed on a server)."""
    assert metadata.version("opencv-python-headless")
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("opencv-python")
