"""CSV files: records as `Header: value; …` paragraphs cited by row, the delimiter found even in
short files with quoted commas, any encoding qa.readers.clean decodes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from qa.answer import citation
from qa.documents import load_documents
from qa.paragraphs import split_paragraphs
from qa.readers import csv as csv_reader
from qa.readers.sheets import LABEL, SEPARATOR


def texts(data: bytes) -> list[str]:
    return [b.text for b in csv_reader.read(data).blocks]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ('note\n"Hello, world"\n', ","),  # csv.Sniffer says 'e'
        ('Product,Price\n"Tea, green",3\n', ","),
        ('Quote,Author\n"To be, or not to be",Shakespeare\n', ","),
        ('a;b\n"x, y";"z, w"\n', ";"),
        ('name\tnote\nBob\t"hi, there, you"\n', "\t"),
        ("id|text\n1|one, two, three\n", "|"),
    ],
)
def test_the_delimiter_survives_quoted_commas_in_short_files(text: str, delimiter: str) -> None:
    assert csv_reader.delimiter(text) == delimiter
    header, values = list(csv.reader(text.splitlines(), delimiter=delimiter))
    expected = [SEPARATOR.join(f"{h}{LABEL}{v}" for h, v in zip(header, values))]
    if len(header) == 1:  # one column: no header to name it, each line its value
        expected = [*header, *values]
    assert texts(text.encode()) == expected


def test_records_are_cited_by_row_and_every_word_is_the_files(tmp_path: Path) -> None:
    (tmp_path / "staff.csv").write_text(
        'Name,Team,Note\nAda,Engines,"Wrote the first program, on paper"\n\n'
        'Grace,Compilers,"Said ""it\'s easier to ask forgiveness""\nthan permission"\n',
        "utf-8",
    )
    (document,), skipped = load_documents(tmp_path)
    assert skipped == []
    cited = [
        (citation(document.title, p.section, p.page, p.number, p.unit), p.text)
        for p in split_paragraphs(document)
    ]
    assert cited == [
        ("staff.csv · row 2", "Name: Ada; Team: Engines; Note: Wrote the first program, on paper"),
        # the record's own number (a blank line is a row too); a quoted line break is a space
        ("staff.csv · row 4", "Name: Grace; Team: Compilers; Note: Said \"it's easier to ask "
         'forgiveness" than permission'),
    ]  # fmt: skip


def test_numbers_are_data_so_a_file_without_header_is_read_as_values() -> None:
    assert texts(b"2019,3.5,9.4%\n2020,4.25,12%\n") == ["2019; 3.5; 9.4%", "2020; 4.25; 12%"]


def test_encodings_are_decoded_as_for_text_files() -> None:
    data = "Produkt;Preis\nÄpfel;1,20 €\n".encode("cp1252")
    parsed = csv_reader.read(data)
    assert [b.text for b in parsed.blocks] == ["Produkt: Äpfel; Preis: 1,20 €"]
    assert parsed.note == "not valid UTF-8, decoded as Windows-1252"
    utf16 = csv_reader.read("a,b\nx,y\n".encode("utf-16"))
    assert [b.text for b in utf16.blocks] == ["a: x; b: y"]
    bom = csv_reader.read("\ufeffa,b\nx,y\n".encode())
    assert [b.text for b in bom.blocks] == ["a: x; b: y"]


def test_the_row_cap_leaves_the_rest_out_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_MAX_ROWS", "2")
    parsed = csv_reader.read(b"n,v\na,1\nb,2\nc,3\n")
    assert [b.text for b in parsed.blocks] == ["n: a; v: 1", "n: b; v: 2"]
    assert "only the first 2 rows read (QA_MAX_ROWS)" in parsed.note
