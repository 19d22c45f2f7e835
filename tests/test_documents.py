"""Reading a documents folder: every format, bad files reported and skipped, never a crash."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from qa import stamps
from qa.documents import decode, discover, load_documents
from qa.errors import NoDocumentsError
from tests.conftest import write


def make_pdf(text: str | None) -> bytes:
    """A one-page PDF whose text layer is `text` (None: a page without text)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    if text is not None:
        font = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_reads_every_supported_format_recursively(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Plain text paragraph.")
    write(tmp_path, "notes/b.md", "# Title\n\nMarkdown body text.")
    write(tmp_path, "c.html", "<html><head><title>T</title><style>p{}</style></head><body>"
          "<h1>Heading</h1><p>First <b>bold</b> para.</p><script>alert(1)</script>"
          "<ul><li>Item one.</li><li>Item two.</li></ul></body></html>")  # fmt: skip
    write(tmp_path, "d.pdf", make_pdf("Text inside a PDF page."))
    docs, skipped = load_documents(tmp_path)
    by_id = {d.id: d for d in docs}
    assert sorted(by_id) == ["a.txt", "c.html", "d.pdf", "notes/b.md"]
    assert skipped == []
    html = by_id["c.html"].text
    assert "First bold para." in html and "Item two." in html
    assert "alert" not in html and "p{}" not in html
    # The page's one <h1> is its title (trafilatura takes it out of the content).
    assert by_id["c.html"].title == "Heading"
    assert html.split("\n\n") == ["First bold para.", "Item one.\nItem two."]
    assert (by_id["notes/b.md"].title, by_id["notes/b.md"].text) == (
        "Title",
        "Title\n\nMarkdown body text.",
    )
    assert "Text inside a PDF page." in by_id["d.pdf"].text


def test_bad_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    write(tmp_path, "good.txt", "A good paragraph.")
    write(tmp_path, "image.png", b"\x89PNG\r\n")
    write(tmp_path, "binary.txt", b"abc\x00\x01\x02def")
    write(tmp_path, "empty.md", "   \n\n  ")
    write(tmp_path, "scanned.pdf", make_pdf(None))
    write(tmp_path, "broken.pdf", b"%PDF-1.4 this is not really a pdf")
    docs, skipped = load_documents(tmp_path)
    assert [d.id for d in docs] == ["good.txt"]
    reasons = {s.id: s.reason for s in skipped}
    assert set(reasons) == {"image.png", "binary.txt", "empty.md", "scanned.pdf", "broken.pdf"}
    assert "not a readable image" in reasons["image.png"]
    assert "binary" in reasons["binary.txt"]
    assert "empty" in reasons["empty.md"]
    assert "text layer" in reasons["scanned.pdf"]
    assert "PDF" in reasons["broken.pdf"]


def test_unreadable_file_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "secret.txt", "hidden")
    write(tmp_path, "open.txt", "Readable.")
    real = os.open

    def open_(path, *args) -> int:  # CI runs as root, who can read anything: simulate
        if Path(path).name == "secret.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args)

    monkeypatch.setattr(os, "open", open_)
    docs, skipped = load_documents(tmp_path)
    assert [d.id for d in docs] == ["open.txt"]
    assert [str(s) for s in skipped] == ["skipped secret.txt: cannot read (Permission denied)"]


def test_other_encodings_are_decoded_and_noted() -> None:
    assert decode("café".encode()) == ("café", "")
    assert decode("café".encode("cp1252")) == ("café", "not valid UTF-8, decoded as Windows-1252")
    text, note = decode("café".encode("utf-16"))
    assert text == "café" and "UTF-16" in note
    assert decode(b"\xef\xbb\xbfbom") == ("bom", "")


def test_line_endings_are_normalized(tmp_path: Path) -> None:
    write(tmp_path, "crlf.txt", b"one line.\r\ntwo line.\rthree line.\n")
    write(tmp_path, "wrapped.txt", b"one line,\r\nwrapped.\r\n\r\nthree line.\r\n")
    (doc, wrapped), _ = load_documents(tmp_path)
    assert [b.text for b in doc.blocks] == ["one line.", "two line.", "three line."]
    assert [b.text for b in wrapped.blocks] == ["one line,\nwrapped.", "three line."]
    assert "\r" not in doc.text + wrapped.text


def test_symlink_loop_does_not_hang(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "Text.")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    docs, _ = load_documents(tmp_path)
    assert [d.id for d in docs] == ["a.txt"]


def test_the_listing_is_in_walk_order_with_the_stamp_of_each_settled_regular_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("b.txt", "a/z.txt", "a/b/c.txt", "a.txt", "c/d.md", "deep/" + "x/" * 60 + "e.txt"):
        write(tmp_path, name, f"Text of {name}.")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    monkeypatch.setattr(stamps, "SETTLE_SECONDS", 0.0)
    found, skipped = discover(tmp_path)
    # Each folder's files (sorted), then its subfolders', depth first: as os.walk lists them
    # (and no depth of folders reaches a recursion limit).
    assert [doc_id for _, doc_id, _ in found] == [
        "a.txt", "b.txt", "link.txt", "a/z.txt", "a/b/c.txt", "c/d.md",
        "deep/" + "x/" * 60 + "e.txt",
    ]  # fmt: skip
    assert not skipped
    assert all(path == str(tmp_path / doc_id) for path, doc_id, _ in found)
    stamped = {doc_id: stamp for _, doc_id, stamp in found}
    facts = os.lstat(tmp_path / "a" / "z.txt")
    assert stamped["a/z.txt"] == (
        facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns, facts.st_ino, facts.st_dev
    )  # fmt: skip
    assert stamped["link.txt"] is None  # a link is never stamped: always read
    # A file changed within the last moment is not stamped (read again next time).
    monkeypatch.setattr(stamps, "SETTLE_SECONDS", 60.0)
    assert all(stamp is None for _, _, stamp in discover(tmp_path)[0])


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoDocumentsError, match="does not exist"):
        load_documents(tmp_path / "nope")
    assert load_documents(tmp_path) == ([], [])
