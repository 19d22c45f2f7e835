"""Long paragraphs are embedded as overlapping windows; no text is dropped or truncated."""

from __future__ import annotations

from qa.documents import text_document
from qa.paragraphs import split_paragraphs
from qa.units import split_units


def units_of(text: str, embedder, max_tokens: int | None = None):
    doc = text_document("d.txt", text)
    (paragraph,) = split_paragraphs(doc)
    limit = max_tokens or embedder.max_tokens
    return paragraph, split_units(paragraph, embedder.count_tokens, embedder.token_spans, limit)


def test_short_paragraph_is_one_passage(embedder) -> None:
    paragraph, units = units_of("One sentence. Two sentences.", embedder)
    assert units.passages == [(0, len(paragraph.text))]
    assert [paragraph.text[s:e] for s, e in units.sentences] == ["One sentence.", "Two sentences."]


def test_long_paragraph_becomes_overlapping_windows_covering_every_sentence(embedder) -> None:
    sentences = [
        f"Sentence {i} mentions the rare word zebra{i} and a few others." for i in range(80)
    ]
    text = " ".join(sentences)
    paragraph, units = units_of(text, embedder)
    assert len(units.passages) > 1
    counts = embedder.count_tokens([text[s:e] for s, e in units.passages])
    assert max(counts) <= embedder.max_tokens
    covered = set()
    for s, e in units.passages:
        covered |= set(range(s, e))
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())
    # consecutive windows overlap by a sentence
    assert all(b[0] < a[1] for a, b in zip(units.passages, units.passages[1:]))


def test_overlong_sentence_is_cut_at_word_pieces_not_dropped(embedder) -> None:
    text = " ".join(f"word{i}" for i in range(600))  # one "sentence" of ~1,800 word pieces
    paragraph, units = units_of(text, embedder)
    assert len(units.sentences) > 1
    assert "".join(text[s:e] for s, e in units.sentences).replace(" ", "") == text.replace(" ", "")
    counts = embedder.count_tokens([text[s:e] for s, e in units.sentences])
    assert max(counts) <= embedder.max_tokens


def test_window_finds_text_deep_inside_a_long_paragraph(make_engine) -> None:
    filler = " ".join(f"Filler sentence number {i} is about nothing much." for i in range(200))
    engine = make_engine({"long.txt": filler + " The treasure is buried under the old oak."})
    engine.build()
    top = engine.search("Where is the treasure buried?", k=1)[0]
    assert "under the old oak" in top.text[top.highlight[0] : top.highlight[1]]
