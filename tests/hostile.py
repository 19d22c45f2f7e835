"""Hostile documents, made in the test run: each one once took the whole product down (issue 22).

Every maker returns the file's bytes; `scale` shrinks the expensive ones for fast tests (1.0: the
size of the report). Used by tests/test_workers.py and bench/hostile.py.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable


def pdf(objects: list[bytes]) -> bytes:
    """A PDF of `objects` (object i + 1 is objects[i]; 1 is the catalog), with its xref table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def stream(dictionary: bytes, data: bytes) -> bytes:
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def self_drawing_pdf(scale: float = 1.0) -> bytes:
    """~830 bytes: a page draws a form XObject that draws itself (pdfium: std::bad_alloc)."""
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /XObject << /X 5 0 R >> /Font << /F 6 0 R >> >> >>",
            stream(b"", b"BT /F 12 Tf 72 700 Td (Hello) Tj ET q /X Do Q"),
            stream(
                b"/Type /XObject /Subtype /Form /BBox [0 0 612 792]"
                b" /Resources << /XObject << /X 5 0 R >> /Font << /F 6 0 R >> >>",
                b"BT /F 12 Tf 72 600 Td (Again) Tj ET q /X Do Q q 1 0 0 1 1 1 cm /X Do Q",
            ),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def _deflated_repeats(
    head: bytes, chunk: bytes, times: int, tail: bytes, crc: bool = True
) -> tuple[bytes, int]:
    """Raw deflate of head + chunk * times + tail, made without inflating it: after a full flush
    the compressor starts afresh, so each chunk compresses to the same bytes. Also its CRC-32
    (0 unless `crc`)."""

    def part(data: bytes, final: bool) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + (c.flush() if final else c.flush(zlib.Z_FULL_FLUSH))

    check = 0
    if crc:
        check = zlib.crc32(head)
        for _ in range(times):
            check = zlib.crc32(chunk, check)
        check = zlib.crc32(tail, check)
    return part(head, False) + part(chunk, False) * times + part(tail, True), check


def inflating_pdf(scale: float = 1.0) -> bytes:
    """A page whose content stream inflates to 1 GiB * scale (zlib of zeros)."""
    times = max(1, int(1024 * scale))
    body, _ = _deflated_repeats(b"", b"\0" * 2**20, times, b"", crc=False)
    data = b"\x78\x9c" + body + b"\0\0\0\0"  # a zlib header; the (unchecked) adler is left 0
    return pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            stream(b"/Filter /FlateDecode", data),
        ]
    )


_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    b'"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    b'.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    b"openxmlformats.org/officeDocument/2006/relationships/officeDocument"
    b'" Target="word/document.xml"/></Relationships>'
)
_W = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _zip(entries: list[tuple[bytes, bytes, int, int]]) -> bytes:
    """A zip of (name, raw deflate, CRC-32, inflated size) entries (Zip64 sizes where needed)."""
    out, central = bytearray(), bytearray()
    for name, body, crc, size in entries:
        big = size >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, size, len(body)) if big else b""
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (len(body), size)
        version = 45 if big else 20
        offset = len(out)
        out += struct.pack("<IHHHHHI", 0x04034B50, version, 0, 8, 0, 0x21, crc)
        out += struct.pack("<IIHH", *sizes, len(name), len(extra)) + name + extra + body
        central += struct.pack("<IHHHHHHI", 0x02014B50, version, version, 0, 8, 0, 0x21, crc)
        central += struct.pack("<IIHHHHHII", *sizes, len(name), len(extra), 0, 0, 0, 0, offset)
        central += name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central),
                      len(out), 0)  # fmt: skip
    return bytes(out + central + end)


def docx_bomb(scale: float = 1.0) -> bytes:
    """An 8 MB * scale .docx whose document.xml inflates ~1,000-fold (8 GB * scale)."""

    def small(name: bytes, data: bytes) -> tuple[bytes, bytes, int, int]:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return name, c.compress(data) + c.flush(), zlib.crc32(data), len(data)

    head = b'<?xml version="1.0"?><w:document xmlns:w="' + _W + b'"><w:body><w:p><w:r><w:t>'
    chunk = b"a" * 2**20
    times = max(1, int(8000 * scale))
    body, crc = _deflated_repeats(head, chunk, times, b"</w:t></w:r></w:p></w:body></w:document>")
    size = len(head) + len(chunk) * times + 41
    return _zip(
        [
            small(b"[Content_Types].xml", _CONTENT_TYPES),
            small(b"_rels/.rels", _RELS),
            (b"word/document.xml", body, crc, size),
        ]
    )


def emphasis_markdown(scale: float = 1.0) -> bytes:
    """`*a` ten million times (* scale): 20 MB of unclosed emphasis."""
    return b"*a" * int(10_000_000 * scale)


def wide_table_markdown(scale: float = 1.0) -> bytes:
    """A Markdown table of 100,000 columns (* scale)."""
    columns = int(100_000 * scale)
    return b"\n".join([b"|" + b"a|" * columns, b"|" + b"-|" * columns, b"|" + b"b|" * columns])


def nested_html(scale: float = 1.0) -> bytes:
    """40,000 nested <div> (* scale) around one sentence."""
    depth = int(40_000 * scale)
    return b"<html><body>" + b"<div>" * depth + b"Deep." + b"</div>" * depth + b"</body></html>"


HOSTILE: dict[str, Callable[[float], bytes]] = {
    "self-drawing.pdf": self_drawing_pdf,
    "inflating.pdf": inflating_pdf,
    "bomb.docx": docx_bomb,
    "emphasis.md": emphasis_markdown,
    "wide-table.md": wide_table_markdown,
    "nested.html": nested_html,
}
