"""Library: files added to and removed from the documents folder, safely."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from qa import library
from qa.errors import (
    DocumentExistsError,
    DocumentNotFoundError,
    NameConflictError,
    UnreadableUploadError,
    UploadError,
    UploadTooLargeError,
)

TEXT = b"Zebras cross the Mara river every year in the great migration.\n"
LIMIT = 1000


def add(docs: Path, name: str, data: bytes = TEXT, replace: bool = False) -> library.Added:
    return library.add(docs, name, io.BytesIO(data), LIMIT, replace)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder


def no_leftovers(docs: Path) -> None:
    assert [p.name for p in docs.rglob(".*")] == []  # no half-written upload left behind


@pytest.mark.parametrize("name", ["zebras.txt", "Notes/Zébras 2.md", "a/b/c.HTML", "x.pdf.txt"])
def test_good_names(name: str) -> None:
    assert library.safe_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("../escape.txt", "'..'"),
        ("a//b.txt", "empty"),
        ("/etc/passwd.txt", "empty"),
        (".hidden.txt", "hidden"),
        ("sub/.git/x.txt", "hidden"),
        ("back\\slash.txt", "backslash"),
        ("nul\x00.txt", "control"),
        ("script.sh", "not a document type"),
        ("noextension", "not a document type"),
        ("x" * 300 + ".txt", "too long"),
        ("/".join("d" * 10) + "/x.txt", "too many folders"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(UploadError, match=reason):
        library.safe_name(name)


def test_add_writes_the_file_and_never_overwrites_unless_asked(docs: Path) -> None:
    added = add(docs, "sub/zebras.txt")
    assert (added.name, added.bytes, added.replaced) == ("sub/zebras.txt", len(TEXT), False)
    assert (docs / "sub" / "zebras.txt").read_bytes() == TEXT
    other = b"Zebras have stripes.\n"
    with pytest.raises(DocumentExistsError, match="replace it"):
        add(docs, "sub/zebras.txt", other)
    assert (docs / "sub" / "zebras.txt").read_bytes() == TEXT
    assert add(docs, "sub/zebras.txt", other, replace=True).replaced is True
    assert (docs / "sub" / "zebras.txt").read_bytes() == other
    no_leftovers(docs)


@pytest.mark.parametrize(
    ("data", "error", "reason"),
    [
        (b"x" * (LIMIT + 1), UploadTooLargeError, "too large"),
        (b"", UploadError, "empty"),
        (b"\x00\x01binary", UnreadableUploadError, "cannot be read: binary"),
    ],
)
def test_bad_content_is_refused_and_nothing_is_left(docs: Path, data, error, reason) -> None:
    with pytest.raises(error, match=reason):
        add(docs, "bad.txt", data)
    assert list(docs.iterdir()) == []


def test_an_unreadable_pdf_is_refused(docs: Path) -> None:
    with pytest.raises(UploadError, match="cannot be read"):
        add(docs, "fake.pdf", b"%PDF-1.4 this is not really a PDF")
    assert list(docs.iterdir()) == []


def test_a_link_cannot_lead_outside_the_documents_folder(docs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    os.symlink(outside, docs / "link")
    with pytest.raises(UploadError, match="not inside"):
        add(docs, "link/new.txt")
    with pytest.raises(UploadError, match="not inside"):
        library.remove(docs, "link/secret.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_remove_and_list(docs: Path) -> None:
    add(docs, "a.txt")
    add(docs, "sub/b.md")
    (docs / ".hidden.txt").write_bytes(TEXT)
    (docs / "c.exe").write_bytes(b"MZ")
    assert [f.name for f in library.files(docs)] == ["a.txt", "sub/b.md"]
    assert library.files(docs)[0].bytes == len(TEXT)
    library.remove(docs, "a.txt")
    assert [f.name for f in library.files(docs)] == ["sub/b.md"]
    with pytest.raises(DocumentNotFoundError):
        library.remove(docs, "a.txt")
    with pytest.raises(UploadError):
        library.remove(docs, "c.exe")  # not a document: not ours to delete
    assert library.files(docs / "missing") == []


@pytest.mark.parametrize("length", [235, 250, 255])
def test_names_up_to_255_bytes_are_accepted(docs: Path, length: int) -> None:
    name = "z" * (length - 4) + ".txt"
    assert add(docs, name).name == name
    assert (docs / name).read_bytes() == TEXT
    two_byte = "é" * ((length - 4) // 2) + ".txt"  # counted in bytes, not characters
    assert add(docs, f"sub/{two_byte}").name == f"sub/{two_byte}"
    no_leftovers(docs)


def test_a_longer_name_is_refused_naming_the_limit(docs: Path) -> None:
    with pytest.raises(UploadError, match="256 bytes in one part, at most 255 bytes"):
        add(docs, "z" * 252 + ".txt")
    assert list(docs.iterdir()) == []


def test_names_are_nfc_normalised(docs: Path) -> None:
    decomposed = "Ze\u0301bras.txt"
    assert add(docs, decomposed).name == "Z\u00e9bras.txt"
    assert [p.name for p in docs.iterdir()] == ["Z\u00e9bras.txt"]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("evil\u202etxt.md", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("iso\u2066late.txt", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("zero\u200bwidth.txt", "U+200B ZERO WIDTH SPACE"),
        ("join\u200dr.txt", "U+200D ZERO WIDTH JOINER"),
        ("bom\ufeff.txt", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("filler\u3164.txt", "U+3164 HANGUL FILLER"),
        ("tab\t.txt", "U+0009"),
        ("bell\x07.txt", "U+0007"),
    ],
)
def test_control_bidi_and_zero_width_characters_are_refused(name: str, shown: str) -> None:
    with pytest.raises(UploadError, match=re.escape(f"invisible character ({shown}")):
        library.safe_name(name)


def test_a_path_under_an_existing_file_is_a_conflict(docs: Path) -> None:
    add(docs, "good.txt")
    with pytest.raises(NameConflictError, match="good.txt is a file, so it cannot hold x.txt"):
        add(docs, "good.txt/x.txt")
    with pytest.raises(NameConflictError, match="good.txt is a file"):
        add(docs, "good.txt/deeper/x.txt")
    assert sorted(p.name for p in docs.iterdir()) == ["good.txt"]


@pytest.mark.parametrize(
    "lookalike",
    [
        "g\u043e\u043ed.txt",  # Cyrillic o
        "go\u03bfd.txt",  # Greek omicron
        "\u0261ood.txt",  # Latin small script g
        "g\u043eod.txt",  # one Cyrillic o
    ],
)
def test_a_name_that_only_looks_like_an_existing_one_is_refused(docs: Path, lookalike) -> None:
    add(docs, "good.txt")
    add(docs, "sub/notes.md")
    with pytest.raises(NameConflictError, match="looks like 'good.txt'.*look-alike characters"):
        add(docs, lookalike)
    with pytest.raises(NameConflictError, match="looks like 'sub'"):
        add(docs, "s\u03c5b/other.md")  # a folder that looks like sub/ (Greek upsilon)
    assert sorted(f.name for f in library.files(docs)) == ["good.txt", "sub/notes.md"]
    # Names that differ in what anyone sees are fine: other letters, accents, ASCII pairs.
    for name in ("food.txt", "g\u00f6od.txt", "modern.txt", "modem.txt"):
        add(docs, name)


def test_the_listing_reads_lstat_only_a_link_is_skipped(docs: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"s" * 12_345)
    os.utime(secret, (0, 0))  # 1970: would show if the target's facts were read
    os.symlink(secret, docs / "link.txt")
    os.symlink(tmp_path, docs / "folder.md")  # a link to a folder, named like a document
    os.symlink(tmp_path / "gone.txt", docs / "dangling.txt")
    add(docs, "real.txt")
    listed = {f.name: f for f in library.files(docs)}
    assert set(listed) == {"dangling.txt", "folder.md", "link.txt", "real.txt"}
    for name in ("dangling.txt", "folder.md", "link.txt"):
        assert listed[name] == library.StoredFile(name, None, None, "a link: not read")
    assert listed["real.txt"].bytes == len(TEXT) and listed["real.txt"].skipped is None


def test_a_hard_link_is_a_file_of_the_folder(docs: Path) -> None:
    add(docs, "a.txt")
    os.link(docs / "a.txt", docs / "b.txt")
    assert [(f.name, f.bytes, f.skipped) for f in library.files(docs)] == [
        ("a.txt", len(TEXT), None), ("b.txt", len(TEXT), None),
    ]  # fmt: skip


def test_a_hostile_upload_is_read_in_a_worker_and_refused_leaving_nothing(docs: Path) -> None:
    """The self-drawing PDF once killed the server that validated it; it is read in a bounded
    worker now, before anything (a folder, a hidden temporary) is written."""
    from qa.workers import Limits
    from tests.hostile import self_drawing_pdf

    data = self_drawing_pdf()
    limits = Limits(memory_mb=1536, seconds=1.0, workers=1)
    with pytest.raises(UnreadableUploadError, match=r"newdir/deeper/x.pdf cannot be read: read"):
        library.add(docs, "newdir/deeper/x.pdf", io.BytesIO(data), len(data), False, limits)
    assert list(docs.iterdir()) == []  # not even the folders of its name


def test_folders_made_for_an_upload_that_fails_are_removed(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def full(target: Path, content: bytes) -> None:  # the disk fills up as it is written
        target.write_bytes(content[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    (docs / "kept").mkdir()
    monkeypatch.setattr(library, "_write", full)
    with pytest.raises(UploadError, match="No space left"):
        add(docs, "kept/new/deeper/zebras.txt")
    assert [p.name for p in docs.rglob("*")] == ["kept"]


def test_temporaries_a_crash_left_are_swept_and_fresh_ones_kept(docs: Path) -> None:
    (docs / "sub").mkdir()
    stale = docs / "sub" / ".upload-0123456789ab-x.pdf"
    fresh = docs / ".upload-ba9876543210-y.pdf"
    mine = docs / ".upload-notes.txt"  # not ours: a user's hidden file stays
    for path in (stale, fresh, mine):
        path.write_bytes(b"%PDF-1.4")
    os.utime(stale, (1, 1))
    library.sweep(docs)
    assert not stale.exists() and fresh.exists() and mine.exists()
