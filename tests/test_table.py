"""The binary paragraph table: what is saved is what is read back; damage is refused."""

from __future__ import annotations

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.paragraphs import Paragraph
from qa.table import Paragraphs, Strings

PARAGRAPHS = [
    Paragraph("a.txt", 1, 0, 11, "Hello world", ((0, 5), (6, 11))),
    Paragraph("b/ü.md", 1, 3, 20, "Ünïcödé — ça va? 雪", ((0, 17),)),
    Paragraph("a.txt", 2, 13, 13, "", ()),
    Paragraph("a.txt", 3, 15, 30, "Third one here.", ((0, 15),)),
    Paragraph("c.xlsx", 1, 0, 9, "Name: Ada", ((0, 9),), "Sheet", 12, "row"),
    Paragraph("d.pptx", 1, 0, 5, "Notes", ((0, 5),), "Plan", 4, "notes"),
]


def test_paragraphs_read_back_as_they_were_saved(tmp_path) -> None:
    Paragraphs.pack(PARAGRAPHS).save(tmp_path)
    table = Paragraphs.load(tmp_path)
    assert len(table) == 6
    assert list(table) == PARAGRAPHS  # a slide's or a row's number keeps its unit
    assert table[1] == PARAGRAPHS[1] and table[-1] == PARAGRAPHS[-1]
    assert table[1:3] == PARAGRAPHS[1:3]
    assert table.by_document() == {"a.txt": [0, 2, 3], "b/ü.md": [1], "c.xlsx": [4], "d.pptx": [5]}
    with pytest.raises(IndexError):
        table[6]


def test_an_empty_table_round_trips(tmp_path) -> None:
    Paragraphs.pack([]).save(tmp_path)
    table = Paragraphs.load(tmp_path)
    assert len(table) == 0 and list(table) == [] and table.by_document() == {}


def test_rows_assembled_from_a_previous_table_equal_the_table_packed_anew() -> None:
    previous = Paragraphs.pack(PARAGRAPHS)
    new = [
        Paragraph("e.txt", 1, 0, 8, "New text", ((0, 8),), "Intro"),
        Paragraph("a.txt", 2, 13, 20, "changed", ((0, 7),)),
    ]
    # Kept, reordered, one repeated, b/ü.md and d.pptx gone, two new rows between.
    origin = np.array([4, 0, -1, 3, -1, 0])
    expected = [PARAGRAPHS[4], PARAGRAPHS[0], new[0], PARAGRAPHS[3], new[1], PARAGRAPHS[0]]
    table = Paragraphs.assemble(previous, origin, new)
    assert list(table) == expected
    packed = Paragraphs.pack(expected)
    assert list(table.documents) == list(packed.documents) == ["c.xlsx", "a.txt", "e.txt"]
    assert list(table.sections) == list(packed.sections)
    assert table.by_document() == packed.by_document()
    assert list(Paragraphs.assemble(previous, np.array([], int), [])) == []


def test_strings_are_joined_taken_and_found_as_bytes() -> None:
    hashes = [f"{i:024x}" for i in range(0, 3000, 7)]
    packed = Strings.pack(hashes)
    assert list(packed.find([hashes[5], "f" * 24, hashes[-1], "short"])) == [
        5,
        -1,
        len(hashes) - 1,
        -1,
    ]
    words = Strings.join([Strings.pack(["ä", "bc"]), Strings.pack([]), Strings.pack(["", "d"])])
    assert list(words) == ["ä", "bc", "", "d"]
    assert list(words.take(np.array([3, 0, 0, 2]))) == ["d", "ä", "ä", ""]
    assert list(Strings.pack(["xy", "z"]).find(["z", "q"])) == [1, -1]  # (not one width)


def test_strings_round_trip(tmp_path) -> None:
    strings = ["", "abc", "ü雪", "x" * 1000]
    Strings.pack(strings).save(tmp_path, "s")
    loaded = Strings.load(tmp_path, "s")
    assert list(loaded) == strings and loaded[2] == "ü雪" and loaded[-1] == "x" * 1000
    assert set(loaded) == set(strings)


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: np.save(f / "texts-offsets.npy", np.array([0, 5, 999], dtype=np.int64)),
        lambda f: np.save(f / "texts-offsets.npy", np.array([0, 5, 2, 40], dtype=np.int64)),
        lambda f: np.save(f / "rows.npy", np.zeros((2, 4), dtype=np.int64)),
        lambda f: np.save(f / "rows.npy", np.full((3, 4), 7, dtype=np.int64)),
        lambda f: np.save(f / "sentences.npy", np.zeros((3, 2), dtype=np.float32)),
        lambda f: np.save(f / "sentences-first.npy", np.array([0, 2, 1, 3], dtype=np.int64)),
        lambda f: (f / "documents.npy").write_bytes(b"not numpy"),
        lambda f: (f / "rows.npy").unlink(),
    ],
)
def test_a_damaged_table_is_refused(tmp_path, damage) -> None:
    Paragraphs.pack(PARAGRAPHS[:3]).save(tmp_path)
    damage(tmp_path)
    with pytest.raises((ValueError, OSError)):
        Paragraphs.load(tmp_path)


@pytest.fixture
def built(make_engine):
    engine = make_engine({"a.txt": "One paragraph.\n\nAnother paragraph, ü.", "b.txt": "Third."})
    engine.build()
    return engine


def test_the_store_reads_back_what_the_build_made(built) -> None:
    made = built.index  # the index the build made, in memory
    loaded = built.store.load("all-MiniLM-L6-v2", 384)
    assert isinstance(loaded.paragraphs, Paragraphs)
    assert list(loaded.paragraphs) == list(made.paragraphs)
    assert list(loaded.passage_hash) == list(made.passage_hash)
    assert list(loaded.sentence_hash) == list(made.sentence_hash)
    assert loaded.by_document == made.by_document
    for part in ("passage_span", "sentence_span", "passage_paragraph", "sentence_paragraph"):
        assert np.array_equal(getattr(loaded, part), getattr(made, part))
    assert isinstance(made.paragraphs, Paragraphs)  # the built index keeps the packed form too


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: np.save(t / "texts-offsets.npy", np.array([0, 1, 2, 3], dtype=np.int64)),
        lambda t: np.save(t / "passage_paragraph.npy", np.array([2, 1, 0], dtype=np.int32)),
        lambda t: np.save(t / "passage_paragraph.npy", np.array([0, 1], dtype=np.int32)),
        lambda t: np.save(t / "sentence_span.npy", np.zeros(4, dtype=np.int32)),
    ],
)
def test_a_damaged_table_in_the_store_names_the_fix(built, damage) -> None:
    damage(built.store.current_folder() / "table")
    with pytest.raises(IndexCorruptError, match="qa index --full"):
        built.store.load("all-MiniLM-L6-v2", 384)
