"""The Word reader on hostile files (refused fast, with the reason) and on untitled ones."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import docx
import pytest

from qa.documents import read_document
from qa.readers.blocks import UnreadableError
from qa.readers.docx import MAX_UNPACKED_BYTES, MAX_XML_TAGS, read


def word_file(*paragraphs: str, title: str | None = None, heading: str | None = None) -> bytes:
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    if heading is not None:
        document.add_heading(heading, 0)  # the "Title" style
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rewritten(data: bytes, change: dict[str, bytes | None], extra: str | None = None) -> bytes:
    """`data` (a .docx) with the parts in `change` replaced (None: dropped); `extra` names a part
    of MAX_UNPACKED_BYTES + 1 MB of zeros, streamed in (compressed to ~300 KB)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            body = change.get(name, source.read(name))
            if body is not None:
                target.writestr(name, body)
        if extra:
            with target.open(extra, "w", force_zip64=True) as part:
                for _ in range(MAX_UNPACKED_BYTES // 2**20 + 1):
                    part.write(bytes(2**20))
    return out.getvalue()


def test_a_zip_bomb_is_refused_before_unpacking_in_little_memory(tmp_path: Path) -> None:
    bomb = rewritten(word_file("Hello."), {}, extra="word/media/zeros.bin")
    assert len(bomb) < 2**20
    (tmp_path / "bomb.docx").write_bytes(bomb)
    code = (
        "from qa.readers.docx import read\n"
        f"try:\n    read(open({str(tmp_path / 'bomb.docx')!r}, 'rb').read())\n"
        "except Exception as e:\n    print(e)\n"
        "print(next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')))"
    )
    started = time.monotonic()
    said, peak = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")[:2]
    assert time.monotonic() - started < 20
    limit = MAX_UNPACKED_BYTES // 2**20
    assert re.fullmatch(rf"the \.docx unpacks to 25\d MB; the limit is {limit:,} MB", said), said
    assert int(peak) < 200, f"{peak} MB"  # 2.3 GB for an 8 MB bomb before


def test_millions_of_empty_paragraphs_are_refused_by_their_tags() -> None:
    data = word_file("Hello.")
    body = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    body = body.replace(b"<w:body>", b"<w:body>" + b"<w:p/>" * 3_000_000)  # 18 MB, 40 KB zipped
    started = time.process_time()
    with pytest.raises(UnreadableError) as refused:
        read(rewritten(data, {"word/document.xml": body}))
    assert time.process_time() - started < 10  # 200 s and 2.9 GB for 9 million before
    assert re.fullmatch(rf"the \.docx has 3,0\d\d,\d\d\d XML tags; the limit is {MAX_XML_TAGS:,}",
                        str(refused.value))  # fmt: skip


def test_a_long_report_is_read_quickly() -> None:
    paragraphs = [f"Paragraph {i} of the report, with a sentence of text." for i in range(10_000)]
    data = word_file(*paragraphs)
    started = time.process_time()
    assert [b.text for b in read(data).blocks] == paragraphs
    assert time.process_time() - started < 10  # ~28 s before: each paragraph's style looked up


def read_as(tmp_path: Path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return read_document(tmp_path / name, name, str(tmp_path)).title


def test_without_core_properties_a_document_is_titled_by_its_file_name(tmp_path: Path) -> None:
    data = word_file("The river rose two metres overnight.")
    rels = zipfile.ZipFile(io.BytesIO(data)).read("_rels/.rels")
    rels = re.sub(rb"<Relationship [^>]*core-properties[^>]*/>", b"", rels)
    stripped = rewritten(data, {"docProps/core.xml": None, "_rels/.rels": rels})
    assert "docProps/core.xml" not in zipfile.ZipFile(io.BytesIO(stripped)).namelist()
    assert read_as(tmp_path, "flood report.docx", stripped) == "flood report.docx"  # not "Word
    # Document", which python-docx makes up for a file without the part


def test_an_empty_title_property_gives_the_title_paragraph_else_the_file_name(
    tmp_path: Path,
) -> None:
    assert read_as(tmp_path, "a.docx", word_file("Text.", title="")) == "a.docx"
    assert read_as(tmp_path, "b.docx", word_file("Text.", heading="Flood report")) == "Flood report"
    assert read_as(tmp_path, "c.docx", word_file("Text.", title="Floods", heading="X")) == "Floods"
